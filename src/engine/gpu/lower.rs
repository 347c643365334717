//! From a node of tract's decluttered graph (concrete shapes) to the WGSL kernel dispatches
//! that compute it, or `None` when no kernel covers it (the executor then runs it on the CPU).
//! Every tensor on the GPU is f32, booleans as 0.0 / 1.0, contiguous, in tract's axis order.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::array::{Gather, MultiBroadcastTo, Pad, PadMode, Slice, TypedConcat};
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::cast::Cast;
use tract_onnx::tract_core::ops::change_axes::AxisOp;
use tract_onnx::tract_core::ops::cnn::{Conv, Deconv, KernelFormat, MaxPool, PoolSpec};
use tract_onnx::tract_core::ops::downsample::Downsample;
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_core::ops::element_wise::ElementWiseOp;
use tract_onnx::tract_core::ops::logic::Iff;
use tract_onnx::tract_core::ops::nn::{DataFormat, LeakyRelu, Reduce, Reducer, RmsNorm, Softmax, SoftmaxKind};

use crate::gpu::device::Kernel;

/// Axes every strided kernel addresses (lower ranks get leading axes of size 1).
const RANK: usize = 6;

const ELEMENTWISE: &str = include_str!("shaders/elementwise.wgsl");
const CONV: &str = include_str!("shaders/conv.wgsl");
const MATMUL: &str = include_str!("shaders/matmul.wgsl");
const POOL: &str = include_str!("shaders/pool.wgsl");
const REDUCE: &str = include_str!("shaders/reduce.wgsl");
const NORM: &str = include_str!("shaders/norm.wgsl");
const LAYOUT: &str = include_str!("shaders/layout.wgsl");

pub(crate) const UNARY: Kernel = Kernel { source: ELEMENTWISE, entry: "unary_main" };
pub(crate) const BINARY: Kernel = Kernel { source: ELEMENTWISE, entry: "binary_main" };
pub(crate) const SELECT: Kernel = Kernel { source: ELEMENTWISE, entry: "select_main" };
pub(crate) const CONVOLUTION: Kernel = Kernel { source: CONV, entry: "conv_main" };
pub(crate) const DECONVOLUTION: Kernel = Kernel { source: CONV, entry: "deconv_main" };
pub(crate) const MATRIX_PRODUCT: Kernel = Kernel { source: MATMUL, entry: "matmul_main" };
pub(crate) const TILED_MATRIX_PRODUCT: Kernel = Kernel { source: MATMUL, entry: "matmul_tiled_main" };
pub(crate) const MAX_POOL: Kernel = Kernel { source: POOL, entry: "max_pool_main" };
pub(crate) const REDUCTION: Kernel = Kernel { source: REDUCE, entry: "reduce_main" };
pub(crate) const NORMALISATION: Kernel = Kernel { source: NORM, entry: "norm_main" };
pub(crate) const COPY: Kernel = Kernel { source: LAYOUT, entry: "copy_main" };

/// What a kernel binds after its output: one of the node's inputs, or one of the weights the
/// lowering prepared.
#[derive(Clone, Copy, Debug)]
pub enum Operand {
    Input(usize),
    Weight(usize),
}

/// One kernel launch.
#[derive(Clone, Debug)]
pub struct Dispatch {
    pub kernel: Kernel,
    /// Parameter words; word 0 is the number of invocations that do work.
    pub params: Vec<u32>,
    /// Workgroups along x, y, z; `None`: `params[0]` invocations, 64 per workgroup.
    pub grid: Option<[u32; 3]>,
    pub operands: Vec<Operand>,
}

impl Dispatch {
    fn linear(kernel: Kernel, params: Vec<u32>, operands: Vec<Operand>) -> Dispatch {
        Dispatch { kernel, params, grid: None, operands }
    }
}

/// How the GPU computes a node.
pub enum Lowered {
    /// The output is input 0's buffer under the output's shape (reshapes, added or removed
    /// unit axes, casts between f32 and stored booleans).
    Alias,
    /// Dispatches that together write every element of one new output buffer, with weights
    /// (uploaded once) laid out for them.
    Kernels { dispatches: Vec<Dispatch>, weights: Vec<Vec<f32>> },
}

impl Lowered {
    /// Whether the GPU reads the node's input `i` (weights are prepared once instead).
    pub fn reads(&self, i: usize) -> bool {
        match self {
            Lowered::Alias => i == 0,
            Lowered::Kernels { dispatches, .. } => {
                dispatches.iter().flat_map(|d| &d.operands).any(|o| matches!(o, Operand::Input(j) if *j == i))
            }
        }
    }
}

/// The kernels for `node`, whose input facts are `inputs`; `None` when none covers it.
pub fn lower(node: &TypedNode, inputs: &[&TypedFact]) -> Option<Lowered> {
    if node.outputs.len() != 1 || !stored(node.outputs[0].fact.datum_type) {
        return None;
    }
    let out = node.outputs[0].fact.shape.as_concrete()?.to_vec();
    let shapes: Vec<Vec<usize>> =
        inputs.iter().map(|f| f.shape.as_concrete().map(|s| s.to_vec())).collect::<Option<_>>()?;
    if std::iter::once(&out).chain(&shapes).any(|s| s.iter().product::<usize>() > u32::MAX as usize) {
        return None;
    }
    let op = &node.op;
    if let Some(gather) = op.downcast_ref::<Gather>() {
        return constant_gather(gather, inputs, &shapes[0]);
    }
    if let Some(conv) = op.downcast_ref::<Conv>() {
        return (conv.q_params.is_none())
            .then(|| convolution(&conv.pool_spec, conv.kernel_fmt, conv.group, None, inputs, &shapes, &out))
            .flatten();
    }
    if let Some(deconv) = op.downcast_ref::<Deconv>() {
        let spatial_at = if deconv.pool_spec.data_format == DataFormat::CHW { 1 } else { 2 };
        let pads = deconv_pads(deconv, &shapes[0][spatial_at..])?;
        return convolution(&deconv.pool_spec, deconv.kernel_format, deconv.group, Some(pads), inputs, &shapes, &out);
    }
    // Everything below reads its data inputs from the GPU.
    if !inputs.iter().all(|f| stored(f.datum_type)) {
        return None;
    }
    if let Some(bin) = op.downcast_ref::<TypedBinOp>() {
        let code = binary_code(bin.0.name())?;
        return broadcast_kernel(BINARY, code, 0.0, &shapes, &out);
    }
    if let Some(ew) = op.downcast_ref::<ElementWiseOp>() {
        let (code, alpha) = match ew.0.downcast_ref::<LeakyRelu>() {
            Some(leaky) => (17, leaky.alpha),
            None => (unary_code(&ew.0.name())?, 0.0),
        };
        return broadcast_kernel(UNARY, code, alpha, &shapes, &out);
    }
    if op.downcast_ref::<Iff>().is_some() {
        return broadcast_kernel(SELECT, 0, 0.0, &shapes, &out);
    }
    if let Some(cast) = op.downcast_ref::<Cast>() {
        return stored(cast.to).then_some(Lowered::Alias);
    }
    if let Some(axis_op) = op.downcast_ref::<AxisOp>() {
        return match axis_op {
            AxisOp::Move(from, to) => permute(&shapes[0], *from, *to, &out),
            _ => Some(Lowered::Alias),
        };
    }
    if let Some(einsum) = op.downcast_ref::<EinSum>() {
        return matrix_product(einsum, &shapes, &out);
    }
    if let Some(pool) = op.downcast_ref::<MaxPool>() {
        return max_pool(pool, &shapes[0], &out);
    }
    if let Some(reduce) = op.downcast_ref::<Reduce>() {
        return reduction(reduce, &shapes[0], &out);
    }
    if let Some(softmax) = op.downcast_ref::<Softmax>() {
        if softmax.axes.len() != 1 || softmax.quant_output_dt.is_some() {
            return None;
        }
        let code = if softmax.kind == SoftmaxKind::LogSoftmax { 1 } else { 0 };
        return Some(normalisation(code, 0.0, &shapes[0], softmax.axes[0]));
    }
    if let Some(rms) = op.downcast_ref::<RmsNorm>() {
        let eps = rms.eps.cast_to_scalar::<f32>().ok()?;
        return Some(normalisation(2, eps, &shapes[0], rms.axis));
    }
    if let Some(slice) = op.downcast_ref::<Slice>() {
        let start = slice.start.as_i64()?;
        let mut shift = [0i64; RANK];
        shift[RANK - out.len() + slice.axis] = start;
        return Some(gather_copy(&shapes[0], &out, [1; RANK], shift, 0.0));
    }
    if let Some(down) = op.downcast_ref::<Downsample>() {
        if down.stride <= 0 {
            return None;
        }
        let at = RANK - out.len() + down.axis;
        let (mut step, mut shift) = ([1i64; RANK], [0i64; RANK]);
        step[at] = down.stride as i64;
        shift[at] = down.modulo as i64;
        return Some(gather_copy(&shapes[0], &out, step, shift, 0.0));
    }
    if let Some(pad) = op.downcast_ref::<Pad>() {
        let PadMode::Constant(value) = &pad.mode else { return None };
        let value = value.cast_to_scalar::<f32>().ok()?;
        let mut shift = [0i64; RANK];
        for (axis, (before, _)) in pad.pads.iter().enumerate() {
            shift[RANK - out.len() + axis] = -(*before as i64);
        }
        return Some(gather_copy(&shapes[0], &out, [1; RANK], shift, value));
    }
    if op.downcast_ref::<MultiBroadcastTo>().is_some() {
        return broadcast_kernel(UNARY, IDENTITY, 0.0, &shapes, &out);
    }
    if let Some(concat) = op.downcast_ref::<TypedConcat>() {
        return concatenation(concat.axis, &shapes, &out);
    }
    None
}

/// A tensor's values as f32 (converted when it holds another number type or booleans).
pub fn floats(tensor: &Tensor) -> TractResult<Vec<f32>> {
    Ok(tensor.cast_to::<f32>()?.try_as_plain_ram()?.as_slice::<f32>()?.to_vec())
}

/// Whether tensors of this type live on the GPU (as f32).
pub fn stored(dt: DatumType) -> bool {
    dt == DatumType::F32 || dt == DatumType::Bool
}

fn binary_code(name: &str) -> Option<u32> {
    Some(match name {
        "Add" => 0,
        "Sub" => 1,
        "Mul" => 2,
        "Div" => 3,
        "Max" => 4,
        "Min" => 5,
        "Pow" => 6,
        "LT" => 7,
        "GT" => 8,
        "LTE" => 9,
        "GTE" => 10,
        "Eq" => 11,
        "NE" => 12,
        _ => return None,
    })
}

fn unary_code(name: &str) -> Option<u32> {
    Some(match name {
        "Exp" => 0,
        "Ln" => 1,
        "Sqrt" => 2,
        "Rsqrt" => 3,
        "Recip" => 4,
        "Abs" => 5,
        "Neg" => 6,
        "Sigmoid" => 7,
        "Tanh" => 8,
        "Erf" => 9,
        "GeluExact" => 10,
        "Cos" => 11,
        "Sin" => 12,
        "Square" => 13,
        "Floor" => 14,
        "Ceil" => 15,
        "Silu" => 16,
        _ => return None,
    })
}

fn words(values: impl IntoIterator<Item = usize>) -> impl Iterator<Item = u32> {
    values.into_iter().map(|v| v as u32)
}

fn signed_words(values: impl IntoIterator<Item = i64>) -> impl Iterator<Item = u32> {
    values.into_iter().map(|v| v as i32 as u32)
}

/// `shape` with leading unit axes up to [`RANK`]; `None` above it.
fn padded(shape: &[usize]) -> Option<[usize; RANK]> {
    if shape.len() > RANK {
        return None;
    }
    let mut dims = [1; RANK];
    dims[RANK - shape.len()..].copy_from_slice(shape);
    Some(dims)
}

fn contiguous_strides(dims: &[usize; RANK]) -> [usize; RANK] {
    let mut strides = [1; RANK];
    for k in (0..RANK - 1).rev() {
        strides[k] = strides[k + 1] * dims[k + 1];
    }
    strides
}

/// Strides reading `input` (right-aligned) at each coordinate of `output`: 0 along the axes
/// where it broadcasts; `None` when it does not broadcast to `output`.
fn broadcast_strides(input: &[usize], output: &[usize; RANK]) -> Option<[usize; RANK]> {
    let dims = padded(input)?;
    let strides = contiguous_strides(&dims);
    let mut out = [0; RANK];
    for k in 0..RANK {
        if dims[k] == output[k] {
            out[k] = strides[k];
        } else if dims[k] != 1 {
            return None;
        }
    }
    Some(out)
}

/// The unary kernel's identity (broadcasting a tensor: `MultiBroadcastTo`).
const IDENTITY: u32 = 99;

/// Unary (code `code`), binary or select kernels, inputs broadcast to the output.
fn broadcast_kernel(kernel: Kernel, code: u32, alpha: f32, shapes: &[Vec<usize>], out: &[usize]) -> Option<Lowered> {
    let dims = padded(out)?;
    let mut params: Vec<u32> = vec![out.iter().product::<usize>() as u32, code, alpha.to_bits()];
    params.extend(words(dims));
    let operands = shapes.len();
    let mut same_layout = [0u32; 3];
    for (k, same) in same_layout.iter_mut().enumerate() {
        let strides = if k < operands { broadcast_strides(&shapes[k], &dims)? } else { [0; RANK] };
        *same = u32::from(k < operands && strides == contiguous_strides(&dims));
        params.extend(words(strides));
    }
    params.extend(same_layout);
    let dispatch = Dispatch::linear(kernel, params, (0..operands).map(Operand::Input).collect());
    Some(Lowered::Kernels { dispatches: vec![dispatch], weights: vec![] })
}

/// The strided copy of `input` into a new contiguous `out`: coordinate c reads c·step + shift.
fn gather_copy(input: &[usize], out: &[usize], step: [i64; RANK], shift: [i64; RANK], pad: f32) -> Lowered {
    let dims = padded(out).expect("rank checked by the caller");
    let src = padded(input).expect("same rank as the output");
    let dispatch =
        copy_dispatch(&dims, 0, &contiguous_strides(&dims), &src, &contiguous_strides(&src), step, shift, pad, 0);
    Lowered::Kernels { dispatches: vec![dispatch], weights: vec![] }
}

#[allow(clippy::too_many_arguments)]
fn copy_dispatch(
    region: &[usize; RANK],
    dst_offset: usize,
    dst_strides: &[usize; RANK],
    src_dims: &[usize; RANK],
    src_strides: &[usize; RANK],
    step: [i64; RANK],
    shift: [i64; RANK],
    pad: f32,
    input: usize,
) -> Dispatch {
    let mut params = vec![region.iter().product::<usize>() as u32, pad.to_bits(), dst_offset as u32, 0];
    params.extend(words(*region));
    params.extend(words(*dst_strides));
    params.extend(words(*src_strides));
    params.extend(signed_words(step));
    params.extend(signed_words(shift));
    params.extend(words(*src_dims));
    Dispatch::linear(COPY, params, vec![Operand::Input(input)])
}

/// A Gather of f32 data with constant indices in arithmetic progression (a single index, a
/// range, every other one…): a strided copy along the axis. Other index sets stay on the CPU.
fn constant_gather(gather: &Gather, inputs: &[&TypedFact], data: &[usize]) -> Option<Lowered> {
    if inputs[0].datum_type != DatumType::F32 || gather.output_type.is_some_and(|t| t != DatumType::F32) {
        return None;
    }
    let indices = inputs[1].konst.as_ref()?.cast_to::<i64>().ok()?;
    let indices = indices.try_as_plain_ram().ok()?.as_slice::<i64>().ok()?.to_vec();
    let size = data[gather.axis] as i64;
    let indices: Vec<i64> = indices.iter().map(|&i| if i < 0 { i + size } else { i }).collect();
    if indices.is_empty() || indices.iter().any(|&i| !(0..size).contains(&i)) {
        return None;
    }
    let step = if indices.len() > 1 { indices[1] - indices[0] } else { 1 };
    if indices.windows(2).any(|w| w[1] - w[0] != step) {
        return None;
    }
    // The output, viewed with the data's rank: the indices' axes flattened in place of `axis`.
    let mut view = data.to_vec();
    view[gather.axis] = indices.len();
    let at = RANK.checked_sub(view.len())? + gather.axis;
    let (mut steps, mut shift) = ([1i64; RANK], [0i64; RANK]);
    steps[at] = step;
    shift[at] = indices[0];
    Some(gather_copy(data, &view, steps, shift, 0.0))
}

fn permute(input: &[usize], from: usize, to: usize, out: &[usize]) -> Option<Lowered> {
    let mut order: Vec<usize> = (0..input.len()).collect();
    let moved = order.remove(from);
    order.insert(to, moved);
    let src = padded(input)?;
    let src_strides = contiguous_strides(&src);
    let lead = RANK - input.len();
    let dims = padded(out)?;
    let mut strides = [0; RANK];
    let mut src_dims = [1; RANK];
    for (k, &axis) in order.iter().enumerate() {
        strides[lead + k] = src_strides[lead + axis];
        src_dims[lead + k] = src[lead + axis];
    }
    let dispatch =
        copy_dispatch(&dims, 0, &contiguous_strides(&dims), &src_dims, &strides, [1; RANK], [0; RANK], 0.0, 0);
    Some(Lowered::Kernels { dispatches: vec![dispatch], weights: vec![] })
}

fn concatenation(axis: usize, shapes: &[Vec<usize>], out: &[usize]) -> Option<Lowered> {
    let dims = padded(out)?;
    let dst_strides = contiguous_strides(&dims);
    let at = RANK - out.len() + axis;
    let mut offset = 0;
    let mut dispatches = Vec::new();
    for (input, shape) in shapes.iter().enumerate() {
        let region = padded(shape)?;
        dispatches.push(copy_dispatch(
            &region,
            offset * dst_strides[at],
            &dst_strides,
            &region,
            &contiguous_strides(&region),
            [1; RANK],
            [0; RANK],
            0.0,
            input,
        ));
        offset += region[at];
    }
    Some(Lowered::Kernels { dispatches, weights: vec![] })
}

/// Conv (`deconv_pads` `None`) or Deconv (its padding before each spatial axis) of a
/// channel-first input with constant weights and bias.
fn convolution(
    spec: &PoolSpec,
    format: KernelFormat,
    group: usize,
    deconv_pads: Option<Vec<usize>>,
    inputs: &[&TypedFact],
    shapes: &[Vec<usize>],
    out: &[usize],
) -> Option<Lowered> {
    // Channel-first, with a batch axis (NCHW) or without one (CHW: a batch of one).
    let batched = match spec.data_format {
        DataFormat::NCHW => true,
        DataFormat::CHW => false,
        _ => return None,
    };
    if inputs.len() != 3 || inputs[0].datum_type != DatumType::F32 {
        return None;
    }
    let with_batch = |shape: &[usize]| if batched { shape.to_vec() } else { [&[1], shape].concat() };
    let (input, out) = (with_batch(&shapes[0]), with_batch(out));
    if !(3..=5).contains(&input.len()) {
        return None;
    }
    let kernel = format.kernel_as_group_o_i_hw(inputs[1].konst.as_ref()?, group).ok()?;
    let weights = floats(&kernel).ok()?;
    let (c_in, c_out) = (input[1], out[1]);
    let bias = inputs[2].konst.as_ref()?;
    let bias: Vec<f32> = match floats(bias).ok()?.as_slice() {
        [b] => vec![*b; c_out],
        b if b.len() == c_out => b.to_vec(),
        _ => return None,
    };
    let pads: Vec<usize> = match &deconv_pads {
        Some(pads) => pads.clone(),
        None => spec.computed_padding(&input[2..]).iter().map(|d| d.pad_before).collect(),
    };
    let c_out_group = c_out / group;
    let lanes = if c_out_group.is_multiple_of(8) || group == 1 { 8 } else { 1 };
    let voxels: usize = out[2..].iter().product();
    let count = out[0] * c_out.div_ceil(lanes) * voxels;
    let mut params: Vec<u32> = vec![count as u32, out[0] as u32, c_in as u32, c_out as u32, group as u32, lanes as u32];
    params.extend(spatial_geometry(spec, &input[2..], &out[2..], &pads));
    let kernel = if deconv_pads.is_some() { DECONVOLUTION } else { CONVOLUTION };
    let dispatch = Dispatch::linear(kernel, params, vec![Operand::Input(0), Operand::Weight(0), Operand::Weight(1)]);
    Some(Lowered::Kernels { dispatches: vec![dispatch], weights: vec![weights, bias] })
}

/// The geometry words of convolution and pooling kernels, each over 1–3 spatial axes lifted to
/// three (leading axes of size 1, unpadded): input dims, output dims, kernel, strides,
/// dilations, padding before.
fn spatial_geometry(spec: &PoolSpec, input: &[usize], out: &[usize], pads_before: &[usize]) -> Vec<u32> {
    let lead = 3 - input.len();
    let (strides, dilations) = (spec.strides(), spec.dilations());
    let mut geometry = Vec::with_capacity(18);
    for values in [input, out, &spec.kernel_shape[..], &strides[..], &dilations[..]] {
        geometry.extend(words(std::iter::repeat_n(1, lead).chain(values.iter().copied())));
    }
    geometry.extend(signed_words(std::iter::repeat_n(0, lead).chain(pads_before.iter().map(|&p| p as i64))));
    geometry
}

/// The padding before each spatial axis of a Deconv whose input has these spatial dims.
fn deconv_pads(deconv: &Deconv, spatial: &[usize]) -> Option<Vec<usize>> {
    let spec = &deconv.pool_spec;
    let pads = spec
        .padding
        .compute_for_deconv(spatial, &spec.kernel_shape, &spec.dilations(), &spec.strides(), &deconv.adjustments)
        .ok()?;
    Some(pads.iter().map(|d| d.pad_before).collect())
}

fn max_pool(pool: &MaxPool, input: &[usize], out: &[usize]) -> Option<Lowered> {
    let spec = &pool.pool_spec;
    // Channel-first, with a batch axis (NCHW) or without one (CHW).
    let spatial_at = match spec.data_format {
        DataFormat::NCHW => 2,
        DataFormat::CHW => 1,
        _ => return None,
    };
    if pool.with_index_outputs.is_some() {
        return None;
    }
    let planes: usize = input[..spatial_at].iter().product();
    let (input, out) = (&input[spatial_at..], &out[spatial_at..]);
    if !(1..=3).contains(&input.len()) {
        return None;
    }
    let pads: Vec<usize> = spec.computed_padding(input).iter().map(|d| d.pad_before).collect();
    let mut params = vec![(planes * out.iter().product::<usize>()) as u32, planes as u32];
    params.extend(spatial_geometry(spec, input, out, &pads));
    Some(Lowered::Kernels {
        dispatches: vec![Dispatch::linear(MAX_POOL, params, vec![Operand::Input(0)])],
        weights: vec![],
    })
}

fn reduction(reduce: &Reduce, input: &[usize], out: &[usize]) -> Option<Lowered> {
    let code = match reduce.reducer {
        Reducer::Sum => 0,
        Reducer::Max => 1,
        Reducer::Min => 2,
        Reducer::Prod => 3,
        Reducer::MeanOfSquares => 4,
        _ => return None,
    };
    let src = padded(input)?;
    let lead = RANK - input.len();
    let mut dims = src;
    let mut reduced = [1; RANK];
    for &axis in &reduce.axes {
        reduced[lead + axis] = src[lead + axis];
        dims[lead + axis] = 1;
    }
    if dims.iter().product::<usize>() != out.iter().product::<usize>() {
        return None;
    }
    let mut params = vec![out.iter().product::<usize>() as u32, code, reduced.iter().product::<usize>() as u32];
    params.extend(words(dims));
    params.extend(words(reduced));
    params.extend(words(contiguous_strides(&src)));
    Some(Lowered::Kernels {
        dispatches: vec![Dispatch::linear(REDUCTION, params, vec![Operand::Input(0)])],
        weights: vec![],
    })
}

/// Softmax (0), log-softmax (1) or RMS normalisation (2) along `axis`.
fn normalisation(code: u32, eps: f32, input: &[usize], axis: usize) -> Lowered {
    let outer: usize = input[..axis].iter().product();
    let inner: usize = input[axis + 1..].iter().product();
    let params = vec![(outer * inner) as u32, code, input[axis] as u32, inner as u32, eps.to_bits()];
    Lowered::Kernels {
        dispatches: vec![Dispatch::linear(NORMALISATION, params, vec![Operand::Input(0)])],
        weights: vec![],
    }
}

/// Merges neighbouring output axes that both operands address as one axis (outer stride =
/// inner size × inner stride, or 0 and 0), so that e.g. a 1×1 convolution's spatial axes become
/// one column axis; merged axes leave leading axes of size 1.
#[allow(clippy::type_complexity)]
fn merge_output_axes(
    dims: [usize; RANK],
    a: [usize; RANK],
    b: [usize; RANK],
) -> ([usize; RANK], [usize; RANK], [usize; RANK]) {
    let mut axes: Vec<(usize, usize, usize)> = (0..RANK).map(|k| (dims[k], a[k], b[k])).filter(|x| x.0 != 1).collect();
    let mut k = axes.len().saturating_sub(1);
    while k > 0 {
        let (outer, inner) = (axes[k - 1], axes[k]);
        if outer.1 == inner.0 * inner.1 && outer.2 == inner.0 * inner.2 {
            axes[k - 1] = (outer.0 * inner.0, inner.1, inner.2);
            axes.remove(k);
        }
        k -= 1;
    }
    let (mut d, mut sa, mut sb) = ([1; RANK], [0; RANK], [0; RANK]);
    let lead = RANK - axes.len();
    for (i, (size, x, y)) in axes.into_iter().enumerate() {
        (d[lead + i], sa[lead + i], sb[lead + i]) = (size, x, y);
    }
    (d, sa, sb)
}

/// Several contracted axes as one, when in both operands they are laid out as one axis would
/// be (each outer stride = inner size × inner stride); `(1, 0, 0)` for none.
fn merge_contracted(mut axes: Vec<(usize, usize, usize)>) -> Option<(usize, usize, usize)> {
    axes.retain(|axis| axis.0 != 1);
    axes.sort_by_key(|axis| std::cmp::Reverse(axis.1));
    let mut merged = *axes.last().unwrap_or(&(1, 0, 0));
    for &(size, sa, sb) in axes.iter().rev().skip(1) {
        if sa != merged.0 * merged.1 || sb != merged.0 * merged.2 {
            return None;
        }
        merged.0 *= size;
    }
    Some(merged)
}

/// An EinSum of two f32 operands whose contracted axes merge into one, each axis appearing at
/// most once per operand.
fn matrix_product(einsum: &EinSum, shapes: &[Vec<usize>], out: &[usize]) -> Option<Lowered> {
    if einsum.q_params.is_some() || einsum.operating_dt != DatumType::F32 || shapes.len() != 2 {
        return None;
    }
    let dims = padded(out)?;
    let lead = RANK - out.len();
    let a = (padded(&shapes[0])?, RANK - shapes[0].len());
    let b = (padded(&shapes[1])?, RANK - shapes[1].len());
    let (a_strides_all, b_strides_all) = (contiguous_strides(&a.0), contiguous_strides(&b.0));
    let mut a_strides = [0; RANK];
    let mut b_strides = [0; RANK];
    // Contracted axes as (size, stride in A, stride in B).
    let mut contracted: Vec<(usize, usize, usize)> = Vec::new();
    for axis in einsum.axes.iter_all_axes() {
        if axis.inputs.len() != 2
            || axis.outputs.len() != 1
            || axis.inputs.iter().chain(&axis.outputs).any(|p| p.len() > 1)
        {
            return None;
        }
        let in_a = axis.inputs[0].first().map(|&p| a.1 + p);
        let in_b = axis.inputs[1].first().map(|&p| b.1 + p);
        match axis.outputs[0].first() {
            Some(&o) => {
                let o = lead + o;
                if let Some(p) = in_a {
                    a_strides[o] = if a.0[p] == 1 { 0 } else { a_strides_all[p] };
                }
                if let Some(p) = in_b {
                    b_strides[o] = if b.0[p] == 1 { 0 } else { b_strides_all[p] };
                }
            }
            None => {
                // An axis of size 1 in one operand only (a batch of one summed away) adds nothing.
                let size_one = |p: Option<usize>, dims: &[usize; RANK]| p.is_none_or(|p| dims[p] == 1);
                if in_a.is_none() || in_b.is_none() {
                    if size_one(in_a, &a.0) && size_one(in_b, &b.0) {
                        continue;
                    }
                    return None;
                }
                let (Some(pa), Some(pb)) = (in_a, in_b) else { return None };
                if a.0[pa] != b.0[pb] {
                    return None;
                }
                contracted.push((a.0[pa], a_strides_all[pa], b_strides_all[pb]));
            }
        }
    }
    let (k, ka, kb) = merge_contracted(contracted)?;
    let (dims, a_strides, b_strides) = merge_output_axes(dims, a_strides, b_strides);
    let count = out.iter().product::<usize>() as u32;
    // Tiled when the last two axes are rows of one operand and columns of the other (swapped
    // so that rows come from the operand bound as A).
    let rows_from = match (a_strides[5], b_strides[4], b_strides[5], a_strides[4]) {
        (0, 0, _, _) => Some(false),
        (_, _, 0, 0) => Some(true),
        _ => None,
    };
    let batch: usize = dims[..4].iter().product();
    let tiled = rows_from.filter(|_| dims[4] >= 16 && dims[5] >= 16 && batch <= 65535);
    let (kernel, grid, first, second, sa, sb, ka, kb) = match tiled {
        Some(swap) => {
            let grid = Some([dims[5].div_ceil(64) as u32, dims[4].div_ceil(64) as u32, batch as u32]);
            if swap {
                (TILED_MATRIX_PRODUCT, grid, 1, 0, b_strides, a_strides, kb, ka)
            } else {
                (TILED_MATRIX_PRODUCT, grid, 0, 1, a_strides, b_strides, ka, kb)
            }
        }
        None => (MATRIX_PRODUCT, None, 0, 1, a_strides, b_strides, ka, kb),
    };
    let mut params = vec![count, k as u32, ka as u32, kb as u32];
    params.extend(words(dims));
    params.extend(words(sa));
    params.extend(words(sb));
    let operands = vec![Operand::Input(first), Operand::Input(second)];
    Some(Lowered::Kernels { dispatches: vec![Dispatch { kernel, params, grid, operands }], weights: vec![] })
}
