//! Per-node timing of a network's CPU run (`medseg profile`): the optimized tract plan
//! [`Network`] itself runs, each node's evaluation timed, and the output softmax medseg computes
//! after the graph (`super::softmax`) as one more row.

use std::time::Instant;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::plan::SimpleState;

use crate::engine::error::RunError;
use crate::engine::network::{eval_node, output_values, Network};

/// The median time of one node over the profiled runs.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeTime {
    /// The tract node's name: its ONNX node's name, often with a suffix tract's rewrites add
    /// (`Conv_12.matmatmul`); for the output softmax, the ONNX Softmax node's name.
    pub name: String,
    /// The operator tract ran (`OptMatMul`, `Softmax`, …).
    pub op: String,
    /// Median milliseconds over the runs.
    pub ms: f64,
}

impl Network {
    /// Runs the network's CPU plan for these input shapes `runs` times on pseudo-random inputs
    /// (a fixed seed) and times every node. Returns the nodes in evaluation order, the output
    /// softmax last. tract allocates each run's tensors anew, so no warm-up run is needed.
    pub fn profile(&self, shapes: &[Vec<usize>], runs: usize) -> Result<Vec<NodeTime>, RunError> {
        let plan = self.plan_for(shapes)?;
        let failed = |e: TractError| RunError::Failed(format!("{e:#}"));
        let mut samples: Vec<Vec<f64>> = vec![Vec::new(); plan.model().nodes.len()];
        let mut softmax_ms = Vec::new();
        let mut state = SimpleState::new(&plan).map_err(failed)?;
        for _ in 0..runs.max(1) {
            let outputs = state
                .run_plan_with_eval(random_inputs(shapes)?, |ctx, op_state, node, inputs| {
                    let started = Instant::now();
                    let outputs = eval_node(ctx, op_state, node, inputs);
                    samples[node.id].push(started.elapsed().as_secs_f64() * 1000.0);
                    outputs
                })
                .map_err(failed)?;
            if let Some(softmax) = &self.output_softmax {
                let output = outputs
                    .get(softmax.output)
                    .ok_or_else(|| RunError::Failed(format!("the network has no output {}", softmax.output)))?;
                let mut values = output_values(output)?;
                let started = Instant::now();
                softmax.apply(&mut values, output.shape())?;
                softmax_ms.push(started.elapsed().as_secs_f64() * 1000.0);
            }
        }
        let model = plan.model();
        let mut times = Vec::new();
        for &id in plan.order_without_consts() {
            let node = model.node(id);
            // The inputs (sources, no precursors) only hand over their values.
            if samples[id].is_empty() || node.inputs.is_empty() {
                continue;
            }
            times.push(NodeTime {
                name: node.name.clone(),
                op: node.op().name().to_string(),
                ms: median(&mut samples[id]),
            });
        }
        if let Some(softmax) = &self.output_softmax {
            times.push(NodeTime { name: softmax.name.clone(), op: "Softmax".into(), ms: median(&mut softmax_ms) });
        }
        Ok(times)
    }
}

/// Float32 tensors of these shapes, values in [0, 1) from a fixed-seed generator (xorshift).
fn random_inputs(shapes: &[Vec<usize>]) -> Result<TVec<TValue>, RunError> {
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 40) as f32 / (1u64 << 24) as f32
    };
    shapes
        .iter()
        .map(|shape| {
            let values: Vec<f32> = (0..shape.iter().product::<usize>()).map(|_| next()).collect();
            Tensor::from_shape(shape, &values).map(TValue::from).map_err(|e| RunError::Shape(e.to_string()))
        })
        .collect()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::onnx_graph::{float_value, model};
    use tract_onnx::pb::{GraphProto, NodeProto};

    #[test]
    fn every_node_and_the_output_softmax_get_a_time() {
        let node = |op: &str, name: &str, input: &str, output: &str| NodeProto {
            op_type: op.into(),
            name: name.into(),
            input: vec![input.into()],
            output: vec![output.into()],
            ..Default::default()
        };
        let proto = model(
            GraphProto {
                node: vec![node("Relu", "relu", "x", "r"), node("Softmax", "probs", "r", "p")],
                input: vec![float_value("x", None)],
                output: vec![float_value("p", None)],
                ..Default::default()
            },
            "test",
        );
        let network = Network::from_proto(&proto).unwrap();
        let times = network.profile(&[vec![1, 3, 4, 5]], 3).unwrap();
        // tract may split a node: its parts carry its name as a prefix.
        assert!(times.len() >= 2 && times[..times.len() - 1].iter().all(|t| t.name.starts_with("relu")), "{times:?}");
        let last = times.last().unwrap();
        assert_eq!((last.name.as_str(), last.op.as_str()), ("probs", "Softmax"));
        assert!(times.iter().all(|t| t.ms >= 0.0));
    }
}
