//! The softmax a segmentation network often ends with, over its channels, computed here instead of
//! by tract. tract evaluates a softmax whose axis is not the innermost one voxel by voxel through
//! ndarray views (an allocation each): on deepbet's 2 × 256³ output that was 64 % of the network's
//! time, on one thread. Here it is a pass over planes of voxels, split across the rayon pool, with
//! tract's arithmetic (max, exp(x − max), their sum in channel order, exp(x − max) / sum), so the
//! values are the same bit for bit.

use rayon::prelude::*;
use tract_onnx::pb::ModelProto;

use crate::engine::error::RunError;

/// Voxels per task.
const BLOCK: usize = 16 * 1024;

/// A graph output's softmax, taken out of the graph by [`split_output_softmax`].
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSoftmax {
    /// Which graph output it applies to.
    pub output: usize,
    /// The Softmax node's name (its output's name when it has none, as tract names nodes).
    pub name: String,
    /// The ONNX `axis` attribute (negative counts from the end).
    axis: i64,
    /// Opset 13 and later: over `axis` alone; before: over every axis from `axis` on.
    single_axis: bool,
}

/// `proto` without the Softmax that produces one of its outputs (that output then names the
/// Softmax's input), and that softmax; `None` when no output is a Softmax's alone (consumed by
/// nothing else, over a value that is not itself an output).
pub fn split_output_softmax(proto: &ModelProto) -> Option<(ModelProto, OutputSoftmax)> {
    let graph = proto.graph.as_ref()?;
    let opset = proto.opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx")?.version;
    let (output, node_index) = graph.output.iter().enumerate().find_map(|(o, value)| {
        let at = graph.node.iter().position(|n| n.output.first() == Some(&value.name))?;
        (graph.node[at].op_type == "Softmax" && graph.node[at].domain.is_empty()).then_some((o, at))
    })?;
    let node = &graph.node[node_index];
    let input = node.input.first()?;
    let consumed = graph.node.iter().any(|n| n.input.iter().any(|i| i == &node.output[0]));
    if consumed || graph.output.iter().any(|o| &o.name == input) || graph.input.iter().any(|i| &i.name == input) {
        return None;
    }
    let axis = node.attribute.iter().find(|a| a.name == "axis").map_or(if opset >= 13 { -1 } else { 1 }, |a| a.i);
    let name = if node.name.is_empty() { node.output[0].clone() } else { node.name.clone() };
    let mut split = proto.clone();
    let graph = split.graph.as_mut()?;
    graph.output[output].name = input.clone();
    graph.node.remove(node_index);
    Some((split, OutputSoftmax { output, name, axis, single_axis: opset >= 13 }))
}

impl OutputSoftmax {
    /// Applies the softmax to `values` of `shape` in place.
    pub fn apply(&self, values: &mut [f32], shape: &[usize]) -> Result<(), RunError> {
        let rank = shape.len() as i64;
        let axis = if self.axis < 0 { self.axis + rank } else { self.axis };
        if !(0..rank).contains(&axis) {
            return Err(RunError::Shape(format!("softmax over axis {} of a rank-{rank} output", self.axis)));
        }
        let axis = axis as usize;
        let (outer, lanes, inner) = if self.single_axis {
            (shape[..axis].iter().product(), shape[axis], shape[axis + 1..].iter().product())
        } else {
            (shape[..axis].iter().product::<usize>(), shape[axis..].iter().product(), 1)
        };
        if values.len() != outer * lanes * inner || lanes == 0 {
            return Err(RunError::Shape(format!("{} values for an output of shape {shape:?}", values.len())));
        }
        if inner == 1 {
            // Each softmax is one contiguous run of `lanes` values.
            values.par_chunks_mut(lanes).for_each(softmax_run);
            return Ok(());
        }
        // Per outer index, `lanes` planes of `inner` values: a task takes the same block of
        // voxels from every plane.
        let mut tasks: Vec<Vec<&mut [f32]>> = Vec::new();
        for group in values.chunks_mut(lanes * inner) {
            let first = tasks.len();
            for plane in group.chunks_mut(inner) {
                for (b, block) in plane.chunks_mut(BLOCK).enumerate() {
                    if first + b == tasks.len() {
                        tasks.push(Vec::with_capacity(lanes));
                    }
                    tasks[first + b].push(block);
                }
            }
        }
        tasks.into_par_iter().for_each(|mut planes| softmax_across(&mut planes));
        Ok(())
    }
}

/// Softmax of one contiguous run of values, as tract's generic path computes it.
fn softmax_run(run: &mut [f32]) {
    let max = run.iter().copied().fold(run[0], |m, x| if m > x { m } else { x });
    let mut sum = -0.0f32;
    for x in run.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    for x in run.iter_mut() {
        *x /= sum;
    }
}

/// Softmax across `planes` (the channels) at each position, as tract computes it.
fn softmax_across(planes: &mut [&mut [f32]]) {
    let len = planes[0].len();
    let mut max = planes[0].to_vec();
    for plane in &planes[1..] {
        for (m, &x) in max.iter_mut().zip(plane.iter()) {
            // Iterator::max_by with partial_cmp: the later value unless the earlier is greater.
            *m = if *m > x { *m } else { x };
        }
    }
    let mut sum = vec![-0.0f32; len];
    for plane in planes.iter_mut() {
        for ((x, &m), s) in plane.iter_mut().zip(&max).zip(sum.iter_mut()) {
            *x = (*x - m).exp();
            *s += *x;
        }
    }
    for plane in planes.iter_mut() {
        for (x, &s) in plane.iter_mut().zip(&sum) {
            *x /= s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::network::Network;
    use crate::engine::onnx_graph::{float_value, model};
    use tract_onnx::pb::{AttributeProto, GraphProto, NodeProto};
    use tract_onnx::prelude::*;

    fn softmax_graph(axis: Option<i64>) -> ModelProto {
        let mut node = NodeProto {
            op_type: "Softmax".into(),
            input: vec!["scaled".into()],
            output: vec!["probabilities".into()],
            ..Default::default()
        };
        if let Some(axis) = axis {
            node.attribute.push(AttributeProto { name: "axis".into(), i: axis, r#type: 2, ..Default::default() });
        }
        let double = NodeProto {
            op_type: "Add".into(),
            input: vec!["x".into(), "x".into()],
            output: vec!["scaled".into()],
            ..Default::default()
        };
        model(
            GraphProto {
                node: vec![double, node],
                input: vec![float_value("x", None)],
                output: vec![float_value("probabilities", None)],
                ..Default::default()
            },
            "test",
        )
    }

    /// tract's own run of the whole graph, softmax included.
    fn tract_run(proto: &ModelProto, values: &[f32], shape: &[usize]) -> Vec<f32> {
        let plan = tract_onnx::onnx()
            .model_for_proto_model(proto)
            .unwrap()
            .with_input_fact(0, f32::fact(shape).into())
            .unwrap()
            .into_optimized()
            .unwrap()
            .into_runnable()
            .unwrap();
        let out = plan.run(tvec!(Tensor::from_shape(shape, values).unwrap().into())).unwrap();
        out[0].to_plain_array_view::<f32>().unwrap().iter().copied().collect()
    }

    fn values(n: usize) -> Vec<f32> {
        (0..n).map(|i| ((i * 7919 % 1013) as f32 / 97.0 - 5.0) * if i % 3 == 0 { -1.3 } else { 0.7 }).collect()
    }

    #[test]
    fn a_channel_softmax_taken_out_of_the_graph_gives_tracts_values_bit_for_bit() {
        // [N, C, D, H, W] with more voxels than one block, softmax over the channels.
        let shape = [2, 3, 5, 70, 80];
        let x = values(shape.iter().product());
        let proto = softmax_graph(Some(1));
        let expected = tract_run(&proto, &x, &shape);
        let (split, softmax) = split_output_softmax(&proto).expect("the output is a softmax");
        assert_eq!(split.graph.as_ref().unwrap().node.len(), 1);
        let network = Network::from_proto(&proto).unwrap();
        let (got, got_shape) = pollster::block_on(network.run(x.clone(), &shape)).unwrap();
        assert_eq!(got_shape, shape);
        assert_eq!(got, expected, "the network's output equals tract's softmax");
        let mut by_hand = tract_run(&split, &x, &shape);
        softmax.apply(&mut by_hand, &shape).unwrap();
        assert_eq!(by_hand, expected);
        // Probabilities: each voxel's channels sum to 1.
        let plane = 5 * 70 * 80;
        let sum: f32 = (0..3).map(|c| got[c * plane + 123]).sum();
        assert!((sum - 1.0).abs() < 1e-6, "{sum}");
    }

    #[test]
    fn the_last_axis_and_opset_12s_flattened_axes_are_softmaxed_as_onnx_defines() {
        let shape = [2, 3, 4, 5];
        let x = values(shape.iter().product());
        // Opset 13's default axis (-1): the last axis.
        let proto = softmax_graph(None);
        let network = Network::from_proto(&proto).unwrap();
        let (got, _) = pollster::block_on(network.run(x.clone(), &shape)).unwrap();
        let expected = tract_run(&proto, &x, &shape);
        assert!(got.iter().zip(&expected).all(|(a, b)| (a - b).abs() < 1e-6));
        // Opset 12, axis 1: one softmax over all of C·H·W per batch item.
        let mut old = softmax_graph(Some(1));
        old.opset_import[0].version = 12;
        let (_, softmax) = split_output_softmax(&old).unwrap();
        let mut flat = x.iter().map(|v| v * 2.0).collect::<Vec<_>>();
        softmax.apply(&mut flat, &shape).unwrap();
        let per_item: f32 = flat[..60].iter().sum();
        assert!((per_item - 1.0).abs() < 1e-5, "{per_item}");
        assert!(OutputSoftmax { output: 0, name: "softmax".into(), axis: 4, single_axis: true }
            .apply(&mut flat, &shape)
            .is_err());
    }

    #[test]
    fn a_softmax_that_feeds_another_node_stays_in_the_graph() {
        let mut proto = softmax_graph(Some(1));
        let graph = proto.graph.as_mut().unwrap();
        graph.node.push(NodeProto {
            op_type: "Relu".into(),
            input: vec!["probabilities".into()],
            output: vec!["after".into()],
            ..Default::default()
        });
        graph.output.push(float_value("after", None));
        assert!(split_output_softmax(&proto).is_none());
    }
}
