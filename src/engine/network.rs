//! A neural network: parsed once from ONNX bytes (or an imported graph), planned once per input
//! shape, run many times — by tract on the CPU, or by the GPU executor (`super::gpu`) when an
//! accelerator is attached, falling back to the CPU with a note if the GPU fails.

use std::sync::Mutex;

use rayon::prelude::*;

use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;

use crate::engine::deconv::rewrite_deconvolutions;
use crate::engine::dequantize::fold_constant_dequantize;
use crate::engine::error::{LoadError, RunError};
use crate::engine::gpu::executor::{GpuPlan, WeightCache};
use crate::engine::gpu::{Accelerator, GpuError};
use crate::engine::parallel_ops::{parallelize, BatchMatMul};
use crate::engine::softmax::{split_output_softmax, OutputSoftmax};
use crate::engine::tensor::{Progress, Shaped};
use crate::engine::threads::{clear_vector_state, clear_vector_state_everywhere};
use tract_onnx::tract_core::ops::matmul::optimized::OptMatMul;
use tract_onnx::tract_core::ops::OpState;
use tract_onnx::tract_core::plan::EvalContext;

type Plan = TypedSimplePlan;

/// An optimized plan with the input shapes it was made for.
type CachedPlan = (Vec<Vec<usize>>, Arc<Plan>);

/// A GPU plan with the input shapes it was made for.
type CachedGpuPlan = (Vec<Vec<usize>>, Arc<GpuPlan>);

/// A parsed network with float32 inputs and outputs (segmentation networks have one input
/// `[N, C, D, H, W]`; MedSAM's decoder has two).
pub struct Network {
    model: InferenceModel,
    /// The input dims the graph declares (`None` for a symbolic dim), when it declares them.
    declared_input: Option<Vec<Option<usize>>>,
    /// Optimized plans by input shapes (the last one used is kept).
    plan: Mutex<Option<CachedPlan>>,
    /// The GPU to run on, if any (see [`Network::use_accelerator`]).
    accelerator: Option<Arc<Accelerator>>,
    /// GPU plans by input shapes (the last one used is kept) and the weights they share.
    gpu_plan: Mutex<Option<CachedGpuPlan>>,
    gpu_weights: WeightCache,
    /// The softmax an output ends with, computed after the run instead of in the graph.
    pub(super) output_softmax: Option<OutputSoftmax>,
}

impl Network {
    /// Parses an ONNX file's bytes.
    pub fn from_onnx_bytes(bytes: &[u8]) -> Result<Network, LoadError> {
        Self::from_proto(&parse_onnx(bytes)?)
    }

    /// Builds a network from an ONNX graph in memory. Constant int8 weights become float32 once
    /// (`super::dequantize`); a softmax that produces an output is run by `super::softmax`,
    /// outside the graph (same values, in parallel, far faster).
    pub fn from_proto(proto: &ModelProto) -> Result<Network, LoadError> {
        if let Some(graph) = &proto.graph {
            check_outputs(graph)?;
        }
        // a copy of the weights only when there are int8 ones to make float
        let quantized = proto.graph.iter().flat_map(|g| &g.node).any(|n| n.op_type == "DequantizeLinear");
        let folded = quantized.then(|| {
            let mut copy = proto.clone();
            copy.graph.as_mut().map(fold_constant_dequantize);
            copy
        });
        let proto = folded.as_ref().unwrap_or(proto);
        let split = split_output_softmax(proto);
        let (proto, output_softmax) = match &split {
            Some((without, softmax)) => (without, Some(softmax.clone())),
            None => (proto, None),
        };
        let model = tract_onnx::onnx()
            .model_for_proto_model(proto)
            .map_err(|e| LoadError(format!("the ONNX graph cannot be loaded: {e:#}")))?;
        if model.inputs.is_empty() || model.outputs.is_empty() {
            return Err(LoadError(format!(
                "expected inputs and outputs, found {} and {}",
                model.inputs.len(),
                model.outputs.len()
            )));
        }
        let declared_input = proto.graph.as_ref().and_then(|g| g.input.first()).and_then(declared_dims);
        Ok(Network {
            model,
            declared_input,
            plan: Mutex::new(None),
            accelerator: None,
            gpu_plan: Mutex::new(None),
            gpu_weights: WeightCache::default(),
            output_softmax,
        })
    }

    /// Runs this network on `accelerator`'s GPU, or on the CPU (`None`).
    pub fn use_accelerator(&mut self, accelerator: Option<Arc<Accelerator>>) {
        self.accelerator = accelerator;
        *self.gpu_plan.lock().expect("gpu plan lock") = None;
        self.gpu_weights.lock().expect("weight cache lock").clear();
    }

    /// Checks the number of inputs and the first one's shape against the graph.
    fn check_inputs(&self, shapes: &[Vec<usize>]) -> Result<(), RunError> {
        if shapes.len() != self.model.inputs.len() {
            return Err(RunError::Shape(format!(
                "the model takes {} inputs, {} were given",
                self.model.inputs.len(),
                shapes.len()
            )));
        }
        self.check_declared(&shapes[0])
    }

    /// Checks `shape` against the dims the graph declares for its input.
    fn check_declared(&self, shape: &[usize]) -> Result<(), RunError> {
        let Some(declared) = &self.declared_input else { return Ok(()) };
        let fits = declared.len() == shape.len() && declared.iter().zip(shape).all(|(d, s)| d.is_none_or(|d| d == *s));
        if fits {
            return Ok(());
        }
        let text: Vec<String> = declared.iter().map(|d| d.map_or("?".into(), |d| d.to_string())).collect();
        Err(RunError::Shape(format!("the model takes input [{}], the scan gives {shape:?}", text.join(", "))))
    }

    /// The optimized CPU plan for these input shapes (made and cached on first use).
    pub(super) fn plan_for(&self, shapes: &[Vec<usize>]) -> Result<Arc<Plan>, RunError> {
        self.check_inputs(shapes)?;
        let mut cached = self.plan.lock().expect("plan cache lock");
        if let Some((s, plan)) = cached.as_ref() {
            if s == shapes {
                return Ok(plan.clone());
            }
        }
        let plan = optimized_plan(self.model.clone(), shapes)?;
        *cached = Some((shapes.to_vec(), plan.clone()));
        Ok(plan)
    }

    /// Makes the CPU plans of several networks for these input shapes at once, one rayon task
    /// each: planning is tract's graph optimisation, long and serial in itself, so a model with a
    /// locator and a main network plans both in the time of one. Networks that run on a GPU, or
    /// already hold a plan for their shapes, are left as they are.
    pub fn plan_together(networks: &[(&Network, Vec<Vec<usize>>)]) -> Result<(), RunError> {
        let mut work = Vec::new();
        for (at, (network, shapes)) in networks.iter().enumerate() {
            network.check_inputs(shapes)?;
            let on_gpu = network.on_gpu();
            let planned = network.plan.lock().expect("plan cache lock").as_ref().is_some_and(|(s, _)| s == shapes);
            if !on_gpu && !planned {
                work.push((at, network.model.clone(), shapes.clone()));
            }
        }
        let plans: Vec<(usize, Result<Arc<Plan>, RunError>)> =
            work.into_par_iter().map(|(at, model, shapes)| (at, optimized_plan(model, &shapes))).collect();
        for (at, plan) in plans {
            let (network, shapes) = &networks[at];
            *network.plan.lock().expect("plan cache lock") = Some((shapes.clone(), plan?));
        }
        Ok(())
    }

    /// The GPU plan for these input shapes (made and cached on first use).
    #[cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))] // one thread in wasm32
    fn gpu_plan_for(&self, accelerator: &Accelerator, shapes: &[Vec<usize>]) -> Result<Arc<GpuPlan>, GpuError> {
        let mut cached = self.gpu_plan.lock().expect("gpu plan lock");
        if let Some((s, plan)) = cached.as_ref() {
            if s == shapes {
                return Ok(plan.clone());
            }
        }
        let model = typed(self.model.clone(), shapes)
            .and_then(|m| m.into_decluttered().map_err(|e| RunError::Shape(format!("{e:#}"))))
            .map_err(|e| GpuError::Graph(e.to_string()))?;
        let plan = Arc::new(GpuPlan::new(accelerator.gpu.clone(), model, &self.gpu_weights)?);
        if !plan.cpu_nodes.is_empty() {
            let shown: Vec<&str> = plan.cpu_nodes.iter().take(4).map(String::as_str).collect();
            let more = if plan.cpu_nodes.len() > 4 { ", …" } else { "" };
            accelerator.note(format!(
                "{} of {} nodes ran on the CPU (no kernel, or larger than the device binds): {}{more}",
                plan.cpu_nodes.len(),
                plan.cpu_nodes.len() + plan.gpu_nodes,
                shown.join(", ")
            ));
        }
        *cached = Some((shapes.to_vec(), plan.clone()));
        Ok(plan)
    }

    /// Runs the network on `input` of the given shape; returns the first output and its shape.
    pub async fn run(&self, input: Vec<f32>, shape: &[usize]) -> Result<Shaped, RunError> {
        self.run_with_progress(input, shape, &mut |_| {}).await
    }

    /// Like [`Network::run`], calling `progress(fraction of nodes evaluated)` before each node.
    pub async fn run_with_progress(
        &self,
        input: Vec<f32>,
        shape: &[usize],
        progress: Progress<'_>,
    ) -> Result<Shaped, RunError> {
        let mut outputs = self.run_all(vec![(input, shape.to_vec())], progress).await?;
        Ok(outputs.swap_remove(0))
    }

    /// Runs the network on all its inputs `(values, shape)`; returns every output with its shape.
    /// Asynchronous because a GPU executor reads its results back through a Promise in the
    /// browser; this CPU run completes on its first poll.
    pub async fn run_all(&self, inputs: Vec<Shaped>, progress: Progress<'_>) -> Result<Vec<Shaped>, RunError> {
        let mut outputs = self.run_graph(inputs, progress).await?;
        apply_softmax(self.output_softmax.as_ref(), &mut outputs)?;
        Ok(outputs)
    }

    /// True when this network runs on a GPU (attached, and not failed).
    pub fn on_gpu(&self) -> bool {
        self.accelerator.as_ref().is_some_and(|a| a.usable())
    }

    /// This network's CPU run for inputs of `shapes` (planned now if need be), or `None` when it
    /// runs on a GPU.
    pub fn cpu_run(&self, shapes: &[Vec<usize>]) -> Result<Option<CpuRun>, RunError> {
        if self.on_gpu() {
            return Ok(None);
        }
        Ok(Some(CpuRun { plan: self.plan_for(shapes)?, output_softmax: self.output_softmax.clone() }))
    }

    /// The graph's outputs (without the softmax `run_all` applies), on the GPU or the CPU.
    async fn run_graph(&self, inputs: Vec<Shaped>, progress: Progress<'_>) -> Result<Vec<Shaped>, RunError> {
        let shapes: Vec<Vec<usize>> = inputs.iter().map(|(_, s)| s.clone()).collect();
        if let Some(accelerator) = self.accelerator.as_ref().filter(|a| a.usable()) {
            self.check_inputs(&shapes)?;
            let ran = match self.gpu_plan_for(accelerator, &shapes) {
                Ok(plan) => plan.run(&inputs, progress).await,
                Err(e) => Err(e),
            };
            match ran {
                Ok(outputs) => return Ok(outputs),
                Err(e) => accelerator.fail(&e),
            }
        }
        run_plan(&self.plan_for(&shapes)?, inputs, progress)
    }
}

/// A network's CPU plan for one set of input shapes, with the softmax it ends with: no GPU
/// objects, so any thread of the pool can run it (MedSAM encodes the next slice while the
/// current one decodes).
#[derive(Clone)]
pub struct CpuRun {
    plan: Arc<Plan>,
    output_softmax: Option<OutputSoftmax>,
}

impl CpuRun {
    /// Runs the network on inputs of the shapes it was planned for; returns every output.
    pub fn run(&self, inputs: Vec<Shaped>) -> Result<Vec<Shaped>, RunError> {
        let mut outputs = run_plan(&self.plan, inputs, &mut |_| {})?;
        apply_softmax(self.output_softmax.as_ref(), &mut outputs)?;
        Ok(outputs)
    }
}

/// Applies the softmax taken out of the graph, if any, to its output.
fn apply_softmax(softmax: Option<&OutputSoftmax>, outputs: &mut [Shaped]) -> Result<(), RunError> {
    if let Some(softmax) = softmax {
        let (values, shape) = outputs
            .get_mut(softmax.output)
            .ok_or_else(|| RunError::Failed(format!("the network has no output {}", softmax.output)))?;
        softmax.apply(values, shape)?;
    }
    Ok(())
}

/// Runs a CPU plan on `inputs`, calling `progress(fraction of nodes evaluated)` before each node.
fn run_plan(plan: &Arc<Plan>, inputs: Vec<Shaped>, progress: Progress<'_>) -> Result<Vec<Shaped>, RunError> {
    let mut tensors = TVec::new();
    for (values, shape) in inputs {
        if values.len() != shape.iter().product::<usize>() {
            return Err(RunError::Shape(format!("{} values for shape {shape:?}", values.len())));
        }
        let tensor = Tensor::from_shape(&shape, &values).map_err(|e| RunError::Shape(e.to_string()))?;
        tensors.push(tensor.into());
    }
    let total = plan.order_without_consts().len().max(1) as f64;
    let mut done = 0usize;
    let mut state =
        tract_onnx::tract_core::plan::SimpleState::new(plan).map_err(|e| RunError::Failed(format!("{e:#}")))?;
    let outputs = state.run_plan_with_eval(tensors, |ctx, op_state, node, inputs| {
        progress(done as f64 / total);
        done += 1;
        eval_node(ctx, op_state, node, inputs)
    });
    let outputs = outputs.map_err(|e| RunError::Failed(format!("{e:#}")))?;
    outputs.into_iter().map(|out| Ok((output_values(&out)?, out.shape().to_vec()))).collect()
}

/// Evaluates one node of a plan as tract does, then clears the vector state tract's kernels
/// leave behind ([`clear_vector_state`]): on every pool thread after a matrix product (it runs
/// there), else on this thread.
pub(super) fn eval_node(
    ctx: &EvalContext,
    op_state: Option<&mut (dyn OpState + 'static)>,
    node: &TypedNode,
    inputs: TVec<TValue>,
) -> TractResult<TVec<TValue>> {
    let outputs = tract_onnx::tract_core::plan::eval(ctx, op_state, node, inputs);
    if node.op_is::<OptMatMul>() || node.op_is::<BatchMatMul>() {
        clear_vector_state_everywhere();
    } else {
        clear_vector_state();
    }
    outputs
}

/// A float32 output's values, copied out of tract's tensor in one piece (iterating an ndarray of
/// dynamic rank element by element took a quarter of a streamed MeshNet's time).
pub(super) fn output_values(output: &TValue) -> Result<Vec<f32>, RunError> {
    output
        .try_as_plain_ram()
        .and_then(|ram| ram.as_slice::<f32>().map(<[f32]>::to_vec))
        .map_err(|e| RunError::Failed(format!("output is not float32: {e}")))
}

/// `model` with these input shapes, typed.
fn typed(mut model: InferenceModel, shapes: &[Vec<usize>]) -> Result<TypedModel, RunError> {
    for (i, shape) in shapes.iter().enumerate() {
        model = model
            .with_input_fact(i, f32::fact(shape).into())
            .map_err(|e| RunError::Shape(format!("input shape {shape:?}: {e:#}")))?;
    }
    model.into_typed().map_err(|e| RunError::Shape(format!("input shapes {shapes:?}: {e:#}")))
}

/// `model` with these input shapes, typed, rewritten where medseg runs an op better than tract
/// (`super::deconv`), optimized, with tract's serial ops swapped for parallel ones
/// (`super::parallel_ops`), and planned.
fn optimized_plan(model: InferenceModel, shapes: &[Vec<usize>]) -> Result<Arc<Plan>, RunError> {
    typed(model, shapes)?
        .into_decluttered()
        .and_then(|mut m| rewrite_deconvolutions(&mut m).map(|()| m))
        .and_then(|m| m.into_optimized())
        .and_then(|mut m| parallelize(&mut m).map(|()| m))
        .and_then(|m| m.into_runnable())
        .map_err(|e| RunError::Shape(format!("input shapes {shapes:?}: {e:#}")))
}

/// Parses an ONNX file's bytes into its graph.
pub fn parse_onnx(bytes: &[u8]) -> Result<ModelProto, LoadError> {
    if bytes.is_empty() {
        return Err(LoadError("the model file is empty".into()));
    }
    tract_onnx::onnx()
        .proto_model_for_read(&mut &bytes[..])
        .map_err(|e| LoadError(format!("this is not an ONNX model ({e})")))
}

/// Checks that every output of `graph` (and of the graphs its nodes hold, such as an `If`'s
/// branches) names a value the graph has, which tract's loader assumes (it panics otherwise).
fn check_outputs(graph: &tract_onnx::pb::GraphProto) -> Result<(), LoadError> {
    use std::collections::HashSet;
    // What tract knows by name: inputs, initializers, node outputs, and node inputs (an unknown
    // one becomes an input), those of nested graphs included (they may read outer values).
    fn names<'a>(graph: &'a tract_onnx::pb::GraphProto, known: &mut HashSet<&'a str>) {
        known.extend(graph.input.iter().map(|i| i.name.as_str()));
        known.extend(graph.initializer.iter().map(|t| t.name.as_str()));
        for node in &graph.node {
            known.extend(node.input.iter().chain(&node.output).map(String::as_str));
            for attribute in &node.attribute {
                for nested in attribute.g.iter().chain(&attribute.graphs) {
                    names(nested, known);
                }
            }
        }
    }
    let mut known = HashSet::new();
    names(graph, &mut known);
    if let Some(output) = graph.output.iter().find(|o| !known.contains(o.name.as_str())) {
        return Err(LoadError(format!(
            "the graph {:?} declares the output {:?}, which no node, input or initializer provides",
            graph.name, output.name
        )));
    }
    for attribute in graph.node.iter().flat_map(|n| &n.attribute) {
        for nested in attribute.g.iter().chain(&attribute.graphs) {
            check_outputs(nested)?;
        }
    }
    Ok(())
}

/// Concrete dims of a graph input's declared shape (`None` per symbolic dim).
fn declared_dims(input: &tract_onnx::pb::ValueInfoProto) -> Option<Vec<Option<usize>>> {
    use tract_onnx::pb::{tensor_shape_proto::dimension::Value, type_proto};
    let Some(type_proto::Value::TensorType(tensor)) = input.r#type.as_ref()?.value.as_ref() else { return None };
    let dims = &tensor.shape.as_ref()?.dim;
    Some(
        dims.iter()
            .map(|d| match d.value {
                Some(Value::DimValue(v)) if v > 0 => Some(v as usize),
                _ => None,
            })
            .collect(),
    )
}
