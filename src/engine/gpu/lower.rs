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

use crate::engine::gpu::device::Kernel;
use crate::engine::gpu::kernels::{
    self, BinaryOp, ConvParams, CopyParams, ElementwiseParams, Entry, MatmulParams, NormOp, NormParams, PoolParams,
    ReduceOp, ReduceParams, UnaryOp, WgslStruct, Window, BINARY, CONVOLUTION, COPY, DECONVOLUTION, MATRIX_PRODUCT,
    MAX_POOL, NORMALISATION, REDUCTION, SELECT, TILED_MATRIX_PRODUCT, UNARY,
};

/// Axes every strided kernel addresses (lower ranks get leading axes of size 1).
const RANK: usize = 6;

/// What a kernel binds after its output: one of the node's inputs, or one of the weights the
/// lowering prepared.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Operand {
    Input(usize),
    Weight(usize),
}

/// One kernel launch.
#[derive(Clone, Debug)]
pub(crate) struct Dispatch {
    pub(crate) kernel: Kernel,
    /// The words of the kernel's parameter struct; word 0 (`count`) is the number of
    /// invocations that do work.
    pub(crate) params: Vec<u32>,
    /// Workgroups along x, y, z; `None`: `params[0]` invocations, 64 per workgroup.
    pub(crate) grid: Option<[u32; 3]>,
    pub(crate) operands: Vec<Operand>,
}

impl Dispatch {
    fn new<P: WgslStruct>(entry: Entry<P>, params: &P, grid: Option<[u32; 3]>, operands: Vec<Operand>) -> Dispatch {
        Dispatch { kernel: entry.kernel, params: kernels::words(params), grid, operands }
    }

    fn linear<P: WgslStruct>(entry: Entry<P>, params: &P, operands: Vec<Operand>) -> Dispatch {
        Dispatch::new(entry, params, None, operands)
    }
}

/// How the GPU computes a node.
pub(crate) enum Lowered {
    /// The output is input 0's buffer under the output's shape (reshapes, added or removed
    /// unit axes, casts between f32 and stored booleans).
    Alias,
    /// Dispatches that together write every element of one new output buffer, with weights
    /// (uploaded once) laid out for them.
    Kernels { dispatches: Vec<Dispatch>, weights: Vec<Vec<f32>> },
}

impl Lowered {
    /// Whether the GPU reads the node's input `i` (weights are prepared once instead).
    pub(crate) fn reads(&self, i: usize) -> bool {
        match self {
            Lowered::Alias => i == 0,
            Lowered::Kernels { dispatches, .. } => {
                dispatches.iter().flat_map(|d| &d.operands).any(|o| matches!(o, Operand::Input(j) if *j == i))
            }
        }
    }
}

/// The kernels for `node`, whose input facts are `inputs`; `None` when none covers it.
pub(crate) fn lower(node: &TypedNode, inputs: &[&TypedFact]) -> Option<Lowered> {
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
        let op = binary_op(bin.0.name())?;
        return broadcast_kernel(BINARY, op as u32, 0.0, &shapes, &out);
    }
    if let Some(ew) = op.downcast_ref::<ElementWiseOp>() {
        let (op, alpha) = match ew.0.downcast_ref::<LeakyRelu>() {
            Some(leaky) => (UnaryOp::LeakyRelu, leaky.alpha),
            None => (unary_op(&ew.0.name())?, 0.0),
        };
        return broadcast_kernel(UNARY, op as u32, alpha, &shapes, &out);
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
        let op = if softmax.kind == SoftmaxKind::LogSoftmax { NormOp::LogSoftmax } else { NormOp::Softmax };
        return Some(normalisation(op, 0.0, &shapes[0], softmax.axes[0]));
    }
    if let Some(rms) = op.downcast_ref::<RmsNorm>() {
        let eps = rms.eps.cast_to_scalar::<f32>().ok()?;
        return Some(normalisation(NormOp::RmsNorm, eps, &shapes[0], rms.axis));
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
        return broadcast_kernel(UNARY, UnaryOp::Identity as u32, 0.0, &shapes, &out);
    }
    if let Some(concat) = op.downcast_ref::<TypedConcat>() {
        return concatenation(concat.axis, &shapes, &out);
    }
    None
}

/// A tensor's values as f32 (converted when it holds another number type or booleans).
pub(crate) fn floats(tensor: &Tensor) -> TractResult<Vec<f32>> {
    Ok(tensor.cast_to::<f32>()?.try_as_plain_ram()?.as_slice::<f32>()?.to_vec())
}

/// Whether tensors of this type live on the GPU (as f32).
pub(crate) fn stored(dt: DatumType) -> bool {
    dt == DatumType::F32 || dt == DatumType::Bool
}

/// The binary kernel's op for a tract binary operation's name.
fn binary_op(name: &str) -> Option<BinaryOp> {
    Some(match name {
        "Add" => BinaryOp::Add,
        "Sub" => BinaryOp::Sub,
        "Mul" => BinaryOp::Mul,
        "Div" => BinaryOp::Div,
        "Max" => BinaryOp::Max,
        "Min" => BinaryOp::Min,
        "Pow" => BinaryOp::Pow,
        "LT" => BinaryOp::Lt,
        "GT" => BinaryOp::Gt,
        "LTE" => BinaryOp::Lte,
        "GTE" => BinaryOp::Gte,
        "Eq" => BinaryOp::Eq,
        "NE" => BinaryOp::Ne,
        _ => return None,
    })
}

/// The unary kernel's op for a tract element-wise operation's name.
fn unary_op(name: &str) -> Option<UnaryOp> {
    Some(match name {
        "Exp" => UnaryOp::Exp,
        "Ln" => UnaryOp::Ln,
        "Sqrt" => UnaryOp::Sqrt,
        "Rsqrt" => UnaryOp::Rsqrt,
        "Recip" => UnaryOp::Recip,
        "Abs" => UnaryOp::Abs,
        "Neg" => UnaryOp::Neg,
        "Sigmoid" => UnaryOp::Sigmoid,
        "Tanh" => UnaryOp::Tanh,
        "Erf" => UnaryOp::Erf,
        "GeluExact" => UnaryOp::GeluExact,
        "Cos" => UnaryOp::Cos,
        "Sin" => UnaryOp::Sin,
        "Square" => UnaryOp::Square,
        "Floor" => UnaryOp::Floor,
        "Ceil" => UnaryOp::Ceil,
        "Silu" => UnaryOp::Silu,
        _ => return None,
    })
}

fn words<const N: usize>(values: [usize; N]) -> [u32; N] {
    values.map(|v| v as u32)
}

fn signed_words<const N: usize>(values: [i64; N]) -> [i32; N] {
    values.map(|v| v as i32)
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

/// Unary (op `op`, a [`UnaryOp`]), binary (a [`BinaryOp`]) or select kernels, inputs
/// broadcast to the output.
fn broadcast_kernel(
    entry: Entry<ElementwiseParams>,
    op: u32,
    alpha: f32,
    shapes: &[Vec<usize>],
    out: &[usize],
) -> Option<Lowered> {
    let dims = padded(out)?;
    let mut params = ElementwiseParams {
        count: out.iter().product::<usize>() as u32,
        op,
        alpha,
        dims: words(dims),
        strides: [[0; RANK]; 3],
        same_layout: [0; 3],
    };
    for (k, (strides, same)) in params.strides.iter_mut().zip(&mut params.same_layout).enumerate() {
        let operand = match shapes.get(k) {
            Some(shape) => Some(broadcast_strides(shape, &dims)?),
            None => None,
        };
        *same = u32::from(operand.is_some_and(|s| s == contiguous_strides(&dims)));
        *strides = words(operand.unwrap_or([0; RANK]));
    }
    let dispatch = Dispatch::linear(entry, &params, (0..shapes.len()).map(Operand::Input).collect());
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
    let params = CopyParams {
        count: region.iter().product::<usize>() as u32,
        pad,
        dst_offset: dst_offset as u32,
        src_offset: 0,
        dims: words(*region),
        dst_strides: words(*dst_strides),
        src_strides: words(*src_strides),
        step: signed_words(step),
        shift: signed_words(shift),
        src_dims: words(*src_dims),
    };
    Dispatch::linear(COPY, &params, vec![Operand::Input(input)])
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
    let params = ConvParams {
        count: count as u32,
        batch: out[0] as u32,
        c_in: c_in as u32,
        c_out: c_out as u32,
        groups: group as u32,
        lanes: lanes as u32,
        window: window(spec, &input[2..], &out[2..], &pads),
    };
    let entry = if deconv_pads.is_some() { DECONVOLUTION } else { CONVOLUTION };
    let dispatch = Dispatch::linear(entry, &params, vec![Operand::Input(0), Operand::Weight(0), Operand::Weight(1)]);
    Some(Lowered::Kernels { dispatches: vec![dispatch], weights: vec![weights, bias] })
}

/// The window of convolution and pooling kernels over 1–3 spatial axes, lifted to three
/// (leading axes of size 1, unpadded).
fn window(spec: &PoolSpec, input: &[usize], out: &[usize], pads_before: &[usize]) -> Window {
    let lifted = |values: &[usize]| {
        let mut axes = [1; 3];
        axes[3 - values.len()..].copy_from_slice(values);
        words(axes)
    };
    let mut pads = [0; 3];
    pads[3 - pads_before.len()..].iter_mut().zip(pads_before).for_each(|(to, &p)| *to = p as i64);
    Window {
        in_dims: lifted(input),
        out_dims: lifted(out),
        kernel: lifted(&spec.kernel_shape),
        strides: lifted(&spec.strides()),
        dilations: lifted(&spec.dilations()),
        pad_before: signed_words(pads),
    }
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
    let params = PoolParams {
        count: (planes * out.iter().product::<usize>()) as u32,
        planes: planes as u32,
        window: window(spec, input, out, &pads),
    };
    Some(Lowered::Kernels {
        dispatches: vec![Dispatch::linear(MAX_POOL, &params, vec![Operand::Input(0)])],
        weights: vec![],
    })
}

fn reduction(reduce: &Reduce, input: &[usize], out: &[usize]) -> Option<Lowered> {
    let op = match reduce.reducer {
        Reducer::Sum => ReduceOp::Sum,
        Reducer::Max => ReduceOp::Max,
        Reducer::Min => ReduceOp::Min,
        Reducer::Prod => ReduceOp::Prod,
        Reducer::MeanOfSquares => ReduceOp::MeanOfSquares,
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
    let params = ReduceParams {
        count: out.iter().product::<usize>() as u32,
        op: op as u32,
        reduced_count: reduced.iter().product::<usize>() as u32,
        dims: words(dims),
        reduced_dims: words(reduced),
        strides: words(contiguous_strides(&src)),
    };
    Some(Lowered::Kernels {
        dispatches: vec![Dispatch::linear(REDUCTION, &params, vec![Operand::Input(0)])],
        weights: vec![],
    })
}

/// Softmax, log-softmax or RMS normalisation along `axis`.
fn normalisation(op: NormOp, eps: f32, input: &[usize], axis: usize) -> Lowered {
    let outer: usize = input[..axis].iter().product();
    let inner: usize = input[axis + 1..].iter().product();
    let params = NormParams {
        count: (outer * inner) as u32,
        op: op as u32,
        length: input[axis] as u32,
        inner: inner as u32,
        eps,
    };
    Lowered::Kernels {
        dispatches: vec![Dispatch::linear(NORMALISATION, &params, vec![Operand::Input(0)])],
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
    let (entry, grid, first, second, sa, sb, ka, kb) = match tiled {
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
    let params = MatmulParams {
        count,
        depth: k as u32,
        a_depth_stride: ka as u32,
        b_depth_stride: kb as u32,
        dims: words(dims),
        a_strides: words(sa),
        b_strides: words(sb),
    };
    let operands = vec![Operand::Input(first), Operand::Input(second)];
    Some(Lowered::Kernels { dispatches: vec![Dispatch::new(entry, &params, grid, operands)], weights: vec![] })
}
