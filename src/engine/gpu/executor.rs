//! Runs a tract graph (decluttered, concrete shapes) with tensors resident on the GPU: every
//! node a kernel covers runs there; any other node runs through tract on the CPU (its inputs
//! read back, its outputs uploaded when a GPU node needs them). Weights are uploaded once and
//! shared by every plan of the same network; a tensor's buffer returns to the pool as soon as
//! its last reader has been recorded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tract_onnx::prelude::*;

use crate::engine::gpu::device::{Gpu, GpuBuffer};
use crate::engine::gpu::lower::{floats, lower, stored, Dispatch, Lowered, Operand};
use crate::engine::gpu::GpuError;
use crate::engine::tensor::{Progress, Shaped};

/// Weights already on the GPU, by the name of the node that uses them (shared by a network's
/// plans for different input shapes).
pub(crate) type WeightCache = Mutex<HashMap<String, Vec<Arc<GpuBuffer>>>>;

/// A tensor during a run: on the GPU (f32, booleans as 0/1) or on the CPU.
#[derive(Clone)]
enum Value {
    Gpu { buffer: Arc<GpuBuffer>, shape: Vec<usize>, datum_type: DatumType },
    Cpu(TValue),
}

enum Step {
    /// Model input number `usize`.
    Input(usize),
    Constant(Value),
    Gpu {
        lowered: Lowered,
        weights: Vec<Arc<GpuBuffer>>,
    },
    /// A one-node tract plan fed with the node's inputs.
    Cpu(Arc<TypedSimplePlan>),
}

/// A graph prepared for the GPU for one set of input shapes.
pub(crate) struct GpuPlan {
    gpu: Arc<Gpu>,
    model: TypedModel,
    order: Vec<usize>,
    steps: Vec<Step>,
    /// The position in `order` after which each outlet is no longer read.
    last_read: HashMap<OutletId, usize>,
    /// How many nodes GPU kernels compute.
    pub(crate) gpu_nodes: usize,
    /// The nodes tract computes on the CPU, as "name (operation)".
    pub(crate) cpu_nodes: Vec<String>,
}

impl GpuPlan {
    /// Prepares `model` (decluttered, every shape concrete); kernels' weights come from or go
    /// into `weights`.
    pub(crate) fn new(gpu: Arc<Gpu>, model: TypedModel, weights: &WeightCache) -> Result<GpuPlan, GpuError> {
        let order = model.eval_order().map_err(|e| GpuError::Graph(format!("{e:#}")))?;
        let mut steps = Vec::with_capacity(order.len());
        let (mut gpu_nodes, mut cpu_nodes) = (0, Vec::new());
        for &id in &order {
            let node = &model.nodes[id];
            let facts: Vec<&TypedFact> = node
                .inputs
                .iter()
                .map(|o| model.outlet_fact(*o))
                .collect::<TractResult<_>>()
                .map_err(|e| GpuError::Graph(format!("{e:#}")))?;
            let step = if let Some(i) = model.inputs.iter().position(|o| o.node == id) {
                Step::Input(i)
            } else if let Some(konst) = node.op.downcast_ref::<tract_onnx::tract_core::ops::konst::Const>() {
                Step::Constant(Value::Cpu(konst.val().clone().into_tvalue()))
            } else if let Some(lowered) = lower(node, &facts).filter(|l| fits(&gpu, node, &facts, l)) {
                gpu_nodes += 1;
                let step_weights = match &lowered {
                    Lowered::Kernels { weights: w, .. } if !w.is_empty() => {
                        uploaded_once(&gpu, weights, &node.name, || Ok(w.clone()))?
                    }
                    _ => Vec::new(),
                };
                Step::Gpu { lowered: strip_weights(lowered), weights: step_weights }
            } else {
                cpu_nodes.push(format!("{} ({})", node.name, node.op.name()));
                Step::Cpu(single_node_plan(node, &facts)?)
            };
            steps.push(step);
        }
        upload_constants(&gpu, &model, &order, &mut steps, weights)?;
        let mut last_read = HashMap::new();
        for (position, &id) in order.iter().enumerate() {
            for input in &model.nodes[id].inputs {
                last_read.insert(*input, position);
            }
        }
        for output in &model.outputs {
            last_read.insert(*output, usize::MAX);
        }
        Ok(GpuPlan { gpu, model, order, steps, last_read, gpu_nodes, cpu_nodes })
    }

    /// Runs on `inputs`; calls `progress(fraction of nodes recorded)` before each node.
    pub(crate) async fn run(&self, inputs: &[Shaped], progress: Progress<'_>) -> Result<Vec<Shaped>, GpuError> {
        let mut values: HashMap<OutletId, Value> = HashMap::new();
        let total = self.order.len().max(1) as f64;
        for (position, (&id, step)) in self.order.iter().zip(&self.steps).enumerate() {
            progress(position as f64 / total);
            let node = &self.model.nodes[id];
            let outputs: Vec<Value> = match step {
                Step::Input(i) => {
                    let (data, shape) = inputs.get(*i).ok_or_else(|| GpuError::Graph(format!("input {i} missing")))?;
                    let tensor = Tensor::from_shape(shape, data).map_err(|e| GpuError::Graph(format!("{e:#}")))?;
                    vec![Value::Cpu(tensor.into_tvalue())]
                }
                Step::Constant(value) => vec![value.clone()],
                Step::Gpu { lowered, weights } => {
                    let mut operands = Vec::with_capacity(node.inputs.len());
                    for (i, outlet) in node.inputs.iter().enumerate() {
                        operands.push(if lowered.reads(i) { Some(self.on_gpu(&mut values, *outlet)?) } else { None });
                    }
                    vec![self.compute(node, lowered, &operands, weights)?]
                }
                Step::Cpu(plan) => {
                    let mut tensors = TVec::new();
                    for outlet in &node.inputs {
                        tensors.push(self.on_cpu(&values[outlet]).await?);
                    }
                    let outputs = plan.run(tensors).map_err(|e| GpuError::Graph(format!("{}: {e:#}", node.name)))?;
                    outputs.into_iter().map(Value::Cpu).collect()
                }
            };
            for (slot, value) in outputs.into_iter().enumerate() {
                values.insert(OutletId::new(id, slot), value);
            }
            values.retain(|outlet, _| self.last_read.get(outlet).is_some_and(|&last| last > position));
        }
        let mut results = Vec::with_capacity(self.model.outputs.len());
        for outlet in &self.model.outputs {
            let tensor = self.on_cpu(&values[outlet]).await?.into_tensor();
            let shape = tensor.shape().to_vec();
            results.push((floats(&tensor).map_err(|e| GpuError::Graph(format!("{e:#}")))?, shape));
        }
        drop(values);
        self.gpu.trim();
        self.gpu.check()?;
        Ok(results)
    }

    /// The value of `outlet` on the GPU, uploading it (once) if it is on the CPU.
    fn on_gpu(&self, values: &mut HashMap<OutletId, Value>, outlet: OutletId) -> Result<Value, GpuError> {
        let value = values.get(&outlet).ok_or_else(|| GpuError::Graph(format!("{outlet:?} not computed")))?;
        if let Value::Cpu(tensor) = value {
            let shape = tensor.shape().to_vec();
            let datum_type = tensor.datum_type();
            let buffer = self.gpu.upload(&floats(tensor).map_err(|e| GpuError::Graph(format!("{e:#}")))?)?;
            values.insert(outlet, Value::Gpu { buffer: Arc::new(buffer), shape, datum_type });
        }
        Ok(values[&outlet].clone())
    }

    /// The value as a tract tensor, read back from the GPU if it is there.
    async fn on_cpu(&self, value: &Value) -> Result<TValue, GpuError> {
        match value {
            Value::Cpu(tensor) => Ok(tensor.clone()),
            Value::Gpu { buffer, shape, datum_type } => {
                let values = self.gpu.download(buffer, shape.iter().product()).await?;
                let tensor = Tensor::from_shape(shape, &values).map_err(|e| GpuError::Graph(format!("{e:#}")))?;
                let tensor = if *datum_type == DatumType::Bool {
                    tensor.cast_to_dt(DatumType::Bool).map_err(|e| GpuError::Graph(format!("{e:#}")))?.into_owned()
                } else {
                    tensor
                };
                Ok(tensor.into_tvalue())
            }
        }
    }

    fn compute(
        &self,
        node: &TypedNode,
        lowered: &Lowered,
        operands: &[Option<Value>],
        weights: &[Arc<GpuBuffer>],
    ) -> Result<Value, GpuError> {
        let fact = &node.outputs[0].fact;
        let shape = fact.shape.as_concrete().map(|s| s.to_vec()).unwrap_or_default();
        let buffers: Vec<Option<&Arc<GpuBuffer>>> = operands
            .iter()
            .map(|v| match v {
                Some(Value::Gpu { buffer, .. }) => Some(buffer),
                _ => None,
            })
            .collect();
        let input =
            |i: usize| buffers[i].ok_or_else(|| GpuError::Graph(format!("{}: input {i} is not on the GPU", node.name)));
        let buffer = match lowered {
            Lowered::Alias => input(0)?.clone(),
            Lowered::Kernels { dispatches, .. } => {
                let output = self.gpu.buffer(shape.iter().product())?;
                for Dispatch { kernel, params, grid, operands } in dispatches {
                    let bound: Vec<&GpuBuffer> = operands
                        .iter()
                        .map(|o| match o {
                            Operand::Input(i) => input(*i).map(|b| b.as_ref()),
                            Operand::Weight(i) => Ok(weights[*i].as_ref()),
                        })
                        .collect::<Result<_, _>>()?;
                    self.gpu.dispatch(*kernel, params, *grid, &output, &bound)?;
                }
                Arc::new(output)
            }
        };
        Ok(Value::Gpu { buffer, shape, datum_type: fact.datum_type })
    }
}

/// Puts on the GPU (once per network) the constants that GPU kernels read.
fn upload_constants(
    gpu: &Gpu,
    model: &TypedModel,
    order: &[usize],
    steps: &mut [Step],
    weights: &WeightCache,
) -> Result<(), GpuError> {
    let mut read_on_gpu = std::collections::HashSet::new();
    for (&id, step) in order.iter().zip(steps.iter()) {
        if let Step::Gpu { lowered, .. } = step {
            for (i, outlet) in model.nodes[id].inputs.iter().enumerate() {
                if lowered.reads(i) {
                    read_on_gpu.insert(outlet.node);
                }
            }
        }
    }
    for (&id, step) in order.iter().zip(steps.iter_mut()) {
        let Step::Constant(Value::Cpu(tensor)) = step else { continue };
        if !read_on_gpu.contains(&id) || !stored(tensor.datum_type()) || tensor.len() as u64 * 4 > gpu.max_binding_bytes
        {
            continue;
        }
        let values = || Ok(vec![floats(tensor).map_err(|e| GpuError::Graph(format!("{e:#}")))?]);
        let buffer = uploaded_once(gpu, weights, &model.nodes[id].name, values)?.swap_remove(0);
        let shape = tensor.shape().to_vec();
        let datum_type = tensor.datum_type();
        *step = Step::Constant(Value::Gpu { buffer, shape, datum_type });
    }
    Ok(())
}

/// The buffers cached under `name`, or `values()` uploaded and cached there.
fn uploaded_once(
    gpu: &Gpu,
    cache: &WeightCache,
    name: &str,
    values: impl FnOnce() -> Result<Vec<Vec<f32>>, GpuError>,
) -> Result<Vec<Arc<GpuBuffer>>, GpuError> {
    let mut cache = cache.lock().expect("weight cache lock");
    if let Some(uploaded) = cache.get(name) {
        return Ok(uploaded.clone());
    }
    let uploaded: Vec<Arc<GpuBuffer>> =
        values()?.iter().map(|v| gpu.upload(v).map(Arc::new)).collect::<Result<_, _>>()?;
    cache.insert(name.to_string(), uploaded.clone());
    Ok(uploaded)
}

/// Whether every tensor the node binds fits one binding of this device.
fn fits(gpu: &Gpu, node: &TypedNode, inputs: &[&TypedFact], lowered: &Lowered) -> bool {
    let bytes = |f: &TypedFact| f.shape.as_concrete().map(|s| s.iter().product::<usize>() as u64 * 4);
    let weights = match lowered {
        Lowered::Kernels { weights, .. } => weights.iter().map(|w| w.len() as u64 * 4).max().unwrap_or(0),
        Lowered::Alias => 0,
    };
    inputs
        .iter()
        .copied()
        .chain(std::iter::once(&node.outputs[0].fact))
        .filter(|f| stored(f.datum_type))
        .all(|f| bytes(f).is_some_and(|b| b <= gpu.max_binding_bytes))
        && weights <= gpu.max_binding_bytes
}

/// The lowering without its host-side weights (they live on the GPU once uploaded).
fn strip_weights(lowered: Lowered) -> Lowered {
    match lowered {
        Lowered::Kernels { dispatches, .. } => Lowered::Kernels { dispatches, weights: Vec::new() },
        alias => alias,
    }
}

/// A tract plan computing just `node` from sources with its input facts.
fn single_node_plan(node: &TypedNode, facts: &[&TypedFact]) -> Result<Arc<TypedSimplePlan>, GpuError> {
    let graph = |e: TractError| GpuError::Graph(format!("{}: {e:#}", node.name));
    let mut model = TypedModel::default();
    let mut wires = TVec::new();
    for (i, fact) in facts.iter().enumerate() {
        let mut fact = (*fact).clone();
        fact.konst = None;
        fact.uniform = None;
        wires.push(model.add_source(format!("input.{i}"), fact).map_err(graph)?);
    }
    let outputs = model.wire_node(&node.name, node.op.clone(), &wires).map_err(graph)?;
    model.select_output_outlets(&outputs).map_err(graph)?;
    model.into_runnable().map_err(graph)
}
