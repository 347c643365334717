//! Plane-streaming execution of networks that are chains of stride-1, same-padded
//! convolutions and per-voxel operations (brainchop's MeshNets). Each convolution stage runs on
//! a few planes along D at a time, with a halo of its own reach along D, and keeps only the
//! planes the next stage still needs. Every output voxel is computed from exactly the inputs
//! the one-shot run uses, so the result equals it, while memory holds a few planes per stage
//! instead of whole activations (a 256³ × 30-channel activation alone is 2 GB).
//!
//! A convolution dilated along D by more than a chunk reads only its taps' planes: for kernel
//! depth k and dilation d the stage is fed k groups of chunk planes (the planes each tap reads)
//! and convolves them with dilation = chunk, instead of chunk + (k − 1)·d contiguous planes.
//! That keeps every stage's input within a GPU's binding limit (MeshNet's dilation 16 would
//! otherwise need 36 planes × 30 channels; lavapipe binds 128 MiB).

use std::collections::{HashSet, VecDeque};

use tract_onnx::pb::{attribute_proto::AttributeType, AttributeProto, GraphProto, ModelProto, NodeProto};

use std::sync::Arc;

use crate::engine::error::RunError;
use crate::engine::gpu::Accelerator;
use crate::engine::network::Network;
use crate::engine::onnx_graph::float_value;
use crate::engine::tensor::Progress;

/// Operations computed voxel by voxel (channels may mix, space may not).
const PER_VOXEL: &[&str] = &[
    "Relu",
    "Elu",
    "LeakyRelu",
    "Selu",
    "Sigmoid",
    "HardSigmoid",
    "Tanh",
    "Softplus",
    "Erf",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Identity",
    "Clip",
];

/// Receives each output plane (`[C_out][H][W]`) in order, with its channel count.
pub type PlaneSink<'a> = &'a mut dyn FnMut(&[f32], usize) -> Result<(), RunError>;

/// Planes along D computed per stage run.
const CHUNK: usize = 4;

/// A network split into stages, each one convolution (with the per-voxel operations after it).
pub struct Streamed {
    stages: Vec<Stage>,
}

struct Stage {
    network: Network,
    /// Planes needed on each side along D.
    halo: usize,
    /// Kernel depth and D dilation when the stage is fed only its taps' planes.
    gathered: Option<(usize, usize)>,
}

/// The output planes of one stage that are still needed.
struct Planes {
    /// Index along D of `planes[0]`.
    first: usize,
    planes: VecDeque<Vec<f32>>,
    /// Planes computed so far (all below this index).
    done: usize,
}

impl Streamed {
    /// Runs every stage on `accelerator`'s GPU, or on the CPU (`None`).
    pub fn use_accelerator(&mut self, accelerator: Option<Arc<Accelerator>>) {
        for stage in &mut self.stages {
            stage.network.use_accelerator(accelerator.clone());
        }
    }

    /// Splits `proto` into streamable stages; `None` when the graph is not such a chain (any
    /// other operation, a skip connection, strides, or padding that is not "same" along D).
    pub fn from_proto(proto: &ModelProto) -> Option<Streamed> {
        let graph = proto.graph.as_ref()?;
        let constants: HashSet<&str> = graph
            .initializer
            .iter()
            .map(|t| t.name.as_str())
            .chain(
                graph.node.iter().filter(|n| n.op_type == "Constant").flat_map(|n| n.output.iter().map(|s| s.as_str())),
            )
            .collect();
        let data_inputs: Vec<&str> =
            graph.input.iter().map(|i| i.name.as_str()).filter(|n| !constants.contains(n)).collect();
        if data_inputs.len() != 1 || graph.output.len() != 1 {
            return None;
        }
        // (input value, nodes, reach of its convolution along D) per stage
        let mut stages: Vec<(String, Vec<NodeProto>, Reach)> = vec![(data_inputs[0].into(), Vec::new(), Reach::NONE)];
        let mut produced: HashSet<String> = HashSet::new();
        for node in graph.node.iter().filter(|n| n.op_type != "Constant") {
            let data: Vec<&String> =
                node.input.iter().filter(|i| !i.is_empty() && !constants.contains(i.as_str())).collect();
            if node.op_type == "Conv" {
                let reach = same_padding_reach(node, graph)?;
                let current = stages.last().expect("a stage");
                let feeds_from_current = data.len() == 1 && (produced.contains(data[0]) || *data[0] == current.0);
                if !feeds_from_current {
                    return None;
                }
                let mut conv = node.clone();
                unpad_d(&mut conv);
                if reach.gathers() {
                    set_d_dilation(&mut conv, CHUNK);
                }
                if current.1.is_empty() {
                    stages.pop();
                }
                stages.push((data[0].clone(), vec![conv], reach));
                produced.clear();
            } else {
                let per_voxel = PER_VOXEL.contains(&node.op_type.as_str())
                    || (node.op_type == "Softmax" && attr_i(node, "axis").is_some_and(|a| a == 1 || a == -4));
                let current = stages.last().expect("a stage");
                let inside = data.iter().all(|d| produced.contains(*d) || **d == current.0);
                let flat_constants =
                    node.input.iter().filter(|i| constants.contains(i.as_str())).all(|i| spatially_flat(i, graph));
                if !per_voxel || !inside || !flat_constants {
                    return None;
                }
                stages.last_mut().expect("a stage").1.push(node.clone());
            }
            produced.extend(node.output.iter().cloned());
        }
        let output = &graph.output[0].name;
        if !produced.contains(output) || stages.iter().all(|s| s.2.halo == 0) {
            return None;
        }
        let count = stages.len();
        let mut built = Vec::with_capacity(count);
        for (i, (input, nodes, reach)) in stages.iter().enumerate() {
            let out = if i + 1 == count { output.clone() } else { stages[i + 1].0.clone() };
            let sub = sub_model(proto, graph, input, &out, nodes);
            let gathered = reach.gathers().then_some((reach.taps, reach.dilation));
            built.push(Stage { network: Network::from_proto(&sub).ok()?, halo: reach.halo, gathered });
        }
        Some(Streamed { stages: built })
    }

    /// Runs the chain on `input` `[1, C, D, H, W]` (`shape`), handing each output plane along D
    /// (`[C_out][H][W]`, in order) and its channel count to `emit`.
    pub async fn run(
        &self,
        input: &[f32],
        shape: [usize; 5],
        emit: PlaneSink<'_>,
        progress: Progress<'_>,
    ) -> Result<(), RunError> {
        let [n, _, depth, _, _] = shape;
        if n != 1 || input.len() != shape.iter().product::<usize>() {
            return Err(RunError::Shape(format!("{} values for a streamed input of shape {shape:?}", input.len())));
        }
        let mut run = Run {
            streamed: self,
            input,
            shape,
            states: self.stages.iter().map(|_| Planes { first: 0, planes: VecDeque::new(), done: 0 }).collect(),
            runs: 0,
            total_runs: (self.stages.len() * depth.div_ceil(CHUNK)) as f64,
            emit,
            progress,
        };
        run.ensure(self.stages.len() - 1, depth).await
    }
}

/// One streamed run in progress.
struct Run<'a> {
    streamed: &'a Streamed,
    input: &'a [f32],
    shape: [usize; 5],
    states: Vec<Planes>,
    runs: usize,
    total_runs: f64,
    emit: PlaneSink<'a>,
    progress: Progress<'a>,
}

impl Run<'_> {
    /// Computes stage `l`'s output planes up to `upto` (exclusive).
    async fn ensure(&mut self, l: usize, upto: usize) -> Result<(), RunError> {
        let [_, in_channels, depth, h, w] = self.shape;
        let plane = h * w;
        let stage = &self.streamed.stages[l];
        let halo = stage.halo;
        while self.states[l].done < upto {
            (self.progress)(self.runs as f64 / self.total_runs);
            let start = self.states[l].done;
            if l > 0 {
                // Boxed: an async fn that calls itself needs the indirection.
                Box::pin(self.ensure(l - 1, (start + CHUNK + halo).min(depth))).await?;
            }
            // Input planes start − halo .. start + CHUNK + halo, or just those the taps read;
            // outside 0..depth they are zero.
            let sources: Vec<Option<usize>> = match stage.gathered {
                Some((taps, dilation)) => (0..taps)
                    .flat_map(|t| (0..CHUNK).map(move |j| (start + t * dilation + j).checked_sub(halo)))
                    .collect(),
                None => (0..CHUNK + 2 * halo).map(|s| (start + s).checked_sub(halo)).collect(),
            };
            let span = sources.len();
            let channels =
                if l == 0 { in_channels } else { self.states[l - 1].planes.front().map_or(0, |p| p.len() / plane) };
            let mut block = vec![0f32; channels * span * plane];
            for (s, z) in sources.into_iter().enumerate() {
                let Some(z) = z.filter(|&z| z < depth) else { continue };
                for c in 0..channels {
                    let dst = &mut block[(c * span + s) * plane..][..plane];
                    if l == 0 {
                        dst.copy_from_slice(&self.input[(c * depth + z) * plane..][..plane]);
                    } else {
                        let source = &self.states[l - 1];
                        dst.copy_from_slice(&source.planes[z - source.first][c * plane..][..plane]);
                    }
                }
            }
            let (out, out_shape) = stage.network.run(block, &[1, channels, span, h, w]).await?;
            if out_shape.len() != 5 || out_shape[2] != CHUNK || out_shape[3] != h || out_shape[4] != w {
                return Err(RunError::Shape(format!("a streamed stage returned {out_shape:?} for {CHUNK} planes")));
            }
            self.runs += 1;
            let out_channels = out_shape[1];
            let last = l + 1 == self.streamed.stages.len();
            for s in 0..CHUNK.min(depth - start) {
                let mut values = Vec::with_capacity(out_channels * plane);
                for c in 0..out_channels {
                    values.extend_from_slice(&out[(c * CHUNK + s) * plane..][..plane]);
                }
                if last {
                    (self.emit)(&values, out_channels)?;
                } else {
                    self.states[l].planes.push_back(values);
                }
            }
            self.states[l].done = (start + CHUNK).min(depth);
            if l > 0 {
                // The next run of this stage starts reading at done − halo.
                let keep_from = self.states[l].done.saturating_sub(halo);
                let source = &mut self.states[l - 1];
                while source.first < keep_from && !source.planes.is_empty() {
                    source.planes.pop_front();
                    source.first += 1;
                }
            }
        }
        Ok(())
    }
}

fn attr<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn attr_i(node: &NodeProto, name: &str) -> Option<i64> {
    attr(node, name).map(|a| a.i)
}

/// How far a convolution reaches along D.
#[derive(Clone, Copy)]
struct Reach {
    /// Planes on each side.
    halo: usize,
    /// Kernel depth.
    taps: usize,
    dilation: usize,
}

impl Reach {
    const NONE: Reach = Reach { halo: 0, taps: 1, dilation: 1 };

    /// Whether feeding only the taps' planes is smaller than the contiguous span.
    fn gathers(&self) -> bool {
        self.taps > 1 && self.dilation > CHUNK
    }
}

/// The reach along D of a 3D convolution with stride 1 and "same" padding; `None` otherwise.
fn same_padding_reach(conv: &NodeProto, graph: &GraphProto) -> Option<Reach> {
    let weight = graph.initializer.iter().find(|t| Some(&t.name) == conv.input.get(1))?;
    if weight.dims.len() != 5 {
        return None;
    }
    let kernel = &weight.dims[2..];
    let ints = |name: &str, default: i64| attr(conv, name).map_or(vec![default; 3], |a| a.ints.clone());
    let (dilations, strides, pads) = (ints("dilations", 1), ints("strides", 1), ints("pads", 0));
    let auto_pad = attr(conv, "auto_pad").map(|a| String::from_utf8_lossy(&a.s).into_owned()).unwrap_or_default();
    if strides.iter().any(|&s| s != 1)
        || !(auto_pad.is_empty() || auto_pad == "NOTSET")
        || pads.len() != 6
        || dilations.len() != 3
        || kernel.iter().chain(&dilations).any(|&v| v < 1)
    {
        return None; // not a same-padded 3D convolution (or a malformed one, left to tract to refuse)
    }
    // A reach that overflows i64 is not streamed (left to tract to refuse or run).
    let same = (0..3).all(|a| {
        dilations[a]
            .checked_mul(kernel[a] - 1)
            .is_some_and(|reach| reach % 2 == 0 && pads[a] == reach / 2 && pads[a + 3] == reach / 2)
    });
    same.then_some(Reach { halo: pads[0] as usize, taps: kernel[0] as usize, dilation: dilations[0] as usize })
}

/// Sets a convolution's dilation along D.
fn set_d_dilation(conv: &mut NodeProto, dilation: usize) {
    match conv.attribute.iter_mut().find(|a| a.name == "dilations") {
        Some(dilations) => dilations.ints[0] = dilation as i64,
        None => conv.attribute.push(AttributeProto {
            name: "dilations".into(),
            r#type: AttributeType::Ints as i32,
            ints: vec![dilation as i64, 1, 1],
            ..Default::default()
        }),
    }
}

/// Removes a convolution's padding along D (the streamed input carries the halo instead).
fn unpad_d(conv: &mut NodeProto) {
    if let Some(pads) = conv.attribute.iter_mut().find(|a| a.name == "pads") {
        pads.ints[0] = 0;
        pads.ints[3] = 0;
        pads.r#type = AttributeType::Ints as i32;
    }
}

/// True when a constant is the same across D, H and W once broadcast against `[N, C, D, H, W]`.
fn spatially_flat(name: &str, graph: &GraphProto) -> bool {
    let dims: Option<Vec<i64>> =
        graph.initializer.iter().find(|t| t.name == name).map(|t| t.dims.clone()).or_else(|| {
            let node = graph.node.iter().find(|n| n.op_type == "Constant" && n.output.iter().any(|o| o == name))?;
            attr(node, "value").and_then(|a| a.t.as_ref()).map(|t| t.dims.clone())
        });
    let Some(dims) = dims else { return false };
    dims.len() <= 5 && dims.iter().enumerate().all(|(i, &d)| 5 - dims.len() + i < 2 || d == 1)
}

/// A model of `nodes` (plus the constants they read) from `input` to `output`.
fn sub_model(proto: &ModelProto, graph: &GraphProto, input: &str, output: &str, nodes: &[NodeProto]) -> ModelProto {
    let used: HashSet<&str> = nodes.iter().flat_map(|n| n.input.iter().map(|s| s.as_str())).collect();
    let mut node: Vec<NodeProto> = graph
        .node
        .iter()
        .filter(|n| n.op_type == "Constant" && n.output.iter().any(|o| used.contains(o.as_str())))
        .cloned()
        .collect();
    node.extend(nodes.iter().cloned());
    let sub = GraphProto {
        name: format!("stage {input} → {output}"),
        node,
        initializer: graph.initializer.iter().filter(|t| used.contains(t.name.as_str())).cloned().collect(),
        input: vec![float_value(input, None)],
        output: vec![float_value(output, None)],
        ..Default::default()
    };
    ModelProto {
        ir_version: proto.ir_version,
        opset_import: proto.opset_import.clone(),
        producer_name: proto.producer_name.clone(),
        graph: Some(sub),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::onnx_graph::model;
    use pollster::block_on;
    use tract_onnx::pb::{tensor_proto::DataType, TensorProto};

    fn ints(name: &str, values: Vec<i64>) -> AttributeProto {
        AttributeProto { name: name.into(), r#type: AttributeType::Ints as i32, ints: values, ..Default::default() }
    }

    fn weights(name: &str, dims: Vec<i64>, seed: usize) -> TensorProto {
        let n: i64 = dims.iter().product();
        let float_data =
            (0..n as usize).map(|i| (((i * 7919 + seed * 104729) % 997) as f32 / 997.0 - 0.5) * 0.4).collect();
        TensorProto { name: name.into(), dims, data_type: DataType::Float as i32, float_data, ..Default::default() }
    }

    /// Conv(1→3, d1) → Elu → Conv(3→3, d2) → Relu → Conv(3→2, d3, bias) → Softmax(axis 1).
    fn chain() -> ModelProto {
        let mut graph = GraphProto {
            input: vec![float_value("x", None)],
            output: vec![float_value("y", None)],
            ..Default::default()
        };
        // c3's dilation exceeds the chunk: it is fed its taps' planes only.
        let convs = [("c1", 1, 3, 1), ("c2", 3, 3, 2), ("c3", 3, 2, CHUNK as i64 + 1)];
        let mut current = "x".to_string();
        for (i, (name, cin, cout, d)) in convs.into_iter().enumerate() {
            graph.initializer.push(weights(&format!("{name}.w"), vec![cout, cin, 3, 3, 3], i));
            let mut inputs = vec![current.clone(), format!("{name}.w")];
            if i == 2 {
                graph.initializer.push(weights("c3.b", vec![cout], 9));
                inputs.push("c3.b".into());
            }
            graph.node.push(NodeProto {
                op_type: "Conv".into(),
                input: inputs,
                output: vec![name.into()],
                attribute: vec![
                    ints("dilations", vec![d; 3]),
                    ints("pads", vec![d; 6]),
                    ints("kernel_shape", vec![3; 3]),
                ],
                ..Default::default()
            });
            let (op, out) = match i {
                0 => ("Elu", "a1"),
                1 => ("Relu", "a2"),
                _ => ("Softmax", "y"),
            };
            let mut act = NodeProto {
                op_type: op.into(),
                input: vec![name.into()],
                output: vec![out.into()],
                ..Default::default()
            };
            if op == "Softmax" {
                act.attribute.push(AttributeProto {
                    name: "axis".into(),
                    r#type: AttributeType::Int as i32,
                    i: 1,
                    ..Default::default()
                });
            }
            graph.node.push(act);
            current = out.into();
        }
        model(graph, "test")
    }

    #[test]
    fn streamed_chain_equals_the_one_shot_run() {
        let proto = chain();
        let streamed = Streamed::from_proto(&proto).expect("a conv chain streams");
        assert_eq!(streamed.stages.iter().map(|s| s.halo).collect::<Vec<_>>(), vec![1, 2, CHUNK + 1]);
        assert_eq!(
            streamed.stages.iter().map(|s| s.gathered).collect::<Vec<_>>(),
            vec![None, None, Some((3, CHUNK + 1))]
        );
        let plain = Network::from_proto(&proto).unwrap();
        for depth in [1, 5, 11, 17] {
            let shape = [1, 1, depth, 7, 6];
            let input: Vec<f32> = (0..depth * 42).map(|i| ((i * 31) % 17) as f32 / 8.0).collect();
            let (whole, whole_shape) = block_on(plain.run(input.clone(), &shape)).unwrap();
            let mut planes = Vec::new();
            block_on(streamed.run(
                &input,
                shape,
                &mut |p, c| {
                    assert_eq!(c, 2);
                    planes.push(p.to_vec());
                    Ok(())
                },
                &mut |_| {},
            ))
            .unwrap();
            assert_eq!(planes.len(), depth);
            // whole is [1, 2, D, 7, 6]; plane z is [2][7·6].
            let plane = 42;
            let mut worst = 0f32;
            for (z, p) in planes.iter().enumerate() {
                for c in 0..2 {
                    for i in 0..plane {
                        worst = worst.max((p[c * plane + i] - whole[(c * depth + z) * plane + i]).abs());
                    }
                }
            }
            assert_eq!(whole_shape, vec![1, 2, depth, 7, 6]);
            assert!(worst <= 1e-6, "depth {depth}: max |Δ| {worst}");
        }
    }

    #[test]
    fn graphs_that_are_not_chains_do_not_stream() {
        let mut proto = chain();
        let graph = proto.graph.as_mut().unwrap();
        // A skip connection: the last activation also reads the first one.
        graph.node.push(NodeProto {
            op_type: "Add".into(),
            input: vec!["y".into(), "a1".into()],
            output: vec!["z".into()],
            ..Default::default()
        });
        graph.output = vec![float_value("z", None)];
        assert!(Streamed::from_proto(&proto).is_none());
        let mut strided = chain();
        let conv = &mut strided.graph.as_mut().unwrap().node[0];
        conv.attribute.push(ints("strides", vec![2; 3]));
        assert!(Streamed::from_proto(&strided).is_none());
    }

    #[test]
    fn progress_is_reported_before_each_stage_run_and_never_falls() {
        let streamed = Streamed::from_proto(&chain()).unwrap();
        let shape = [1, 1, 16, 4, 4];
        let mut reported = Vec::new();
        block_on(streamed.run(&vec![0.5; 256], shape, &mut |_, _| Ok(()), &mut |f| reported.push(f))).unwrap();
        let runs = streamed.stages.len() * 16usize.div_ceil(CHUNK);
        assert_eq!(reported.len(), runs);
        assert_eq!(reported[0], 0.0);
        assert!(reported.windows(2).all(|w| w[0] <= w[1]) && reported[runs - 1] < 1.0, "{reported:?}");
        assert!(reported[runs - 1] > 0.9, "the last run is reported near the end: {reported:?}");
    }
}
