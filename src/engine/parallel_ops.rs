//! Parallel stand-ins for tract ops that run on one thread: constant padding (tract pads the
//! input of a strided convolution into a new tensor), 3D max-pooling, and the sum or mean of
//! squares along the last axis (the instance norms of deepbet's LinkNet). In deepbet's profile
//! (`medseg profile`, 2 threads) these took a third of the network's time with the second core
//! idle. [`parallelize`] swaps them into an optimized graph; each computes what tract's op does,
//! the same values bit for bit, in fixed blocks whatever the number of threads.
//!
//! A resize (HD-BET's trilinear upsampling) runs channel by channel on the pool, each channel
//! through tract's own per-axis plans and kernel, so again the same values bit for bit.
//!
//! A matrix product that tract loops over batch axes (the per-window, per-head products of
//! attention in LiteMedSAM's encoder) runs its batch items on the pool ([`BatchMatMul`]), each
//! through tract's own kernel; tract runs them one after another, each too small to split.
//!
//! Adding or multiplying with broadcasting is in `super::broadcast`.
//!
//! One more stand-in is faster rather than parallel, and not bit for bit: the softmax over the
//! last axis of attention scores (TinyViT's, in LiteMedSAM's encoder). tract calls three kernels
//! per row, which for its 49-wide rows cost 14 ns a value (270 ms of a 2.3 s encoder run, against
//! onnxruntime's 26 ms); [`RowSoftmax`] computes each row in one pass with a polynomial `exp`
//! that vectorizes (within 2 ulp of the exact one; tract's own kernel is an approximation too).

use super::broadcast::Broadcast;
use super::threads::min_items;
use rayon::prelude::*;
use tract_onnx::prelude::tract_ndarray::Dimension;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::array::{Pad, PadMode};
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::cnn::OptMaxPool;
use tract_onnx::tract_core::ops::matmul::optimized::OptMatMul;
use tract_onnx::tract_core::ops::nn::resize::{resample_axis, Resize};
use tract_onnx::tract_core::ops::nn::{Reduce, Reducer, Softmax, SoftmaxKind};

/// Rows of a reduction per rayon task.
const ROWS_PER_TASK: usize = 256;

/// Replaces, in an optimized `model` with concrete shapes, the f32 ops this module runs in
/// parallel; others stay tract's.
pub fn parallelize(model: &mut TypedModel) -> TractResult<()> {
    for id in 0..model.nodes().len() {
        let node = model.node(id);
        if let Some(matmul) = node.op_as::<OptMatMul>() {
            if let Some(op) = BatchMatMul::of(matmul) {
                model.node_mut(id).op = Box::new(op);
            }
            continue;
        }
        let Some(input) = node.inputs.first() else { continue };
        let fact = model.outlet_fact(*input)?;
        let Some(shape) = fact.shape.as_concrete().map(|s| s.to_vec()) else { continue };
        if fact.datum_type != f32::datum_type() || node.outputs.len() != 1 {
            continue;
        }
        let replacement: Option<Box<dyn TypedOp>> = if let Some(binary) = node.op_as::<TypedBinOp>() {
            second_input(model, node)?
                .and_then(|other| Broadcast::of(binary, &shape, &other))
                .map(|op| Box::new(op) as _)
        } else if let Some(pad) = node.op_as::<Pad>() {
            ConstantPad::of(pad, shape).map(|op| Box::new(op) as _)
        } else if let Some(pool) = node.op_as::<OptMaxPool>() {
            MaxPool3d::of(pool, &shape)?.map(|op| Box::new(op) as _)
        } else if let Some(reduce) = node.op_as::<Reduce>() {
            RowReduce::of(reduce, shape).map(|op| Box::new(op) as _)
        } else if let Some(softmax) = node.op_as::<Softmax>() {
            RowSoftmax::of(softmax, shape).map(|op| Box::new(op) as _)
        } else if let Some(resize) = node.op_as::<Resize>() {
            ChannelResize::of(resize, model, node, shape)?.map(|op| Box::new(op) as _)
        } else {
            None
        };
        if let Some(op) = replacement {
            model.node_mut(id).op = op;
        }
    }
    Ok(())
}

/// The concrete shape of `node`'s second input when it is f32 (and the node has two inputs).
fn second_input(model: &TypedModel, node: &TypedNode) -> TractResult<Option<Vec<usize>>> {
    let [_, second] = node.inputs[..] else { return Ok(None) };
    let fact = model.outlet_fact(second)?;
    Ok(fact.shape.as_concrete().filter(|_| fact.datum_type == f32::datum_type()).map(<[usize]>::to_vec))
}

/// An f32 tensor of `shape` whose every value `fill` writes.
fn filled(shape: &[usize], fill: impl FnOnce(&mut [f32])) -> TractResult<TValue> {
    let mut output = unsafe { Tensor::uninitialized::<f32>(shape)? };
    fill(output.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?);
    Ok(output.into_tvalue())
}

/// Padding with a constant, row by row (the last axis) on the rayon pool.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct ConstantPad {
    input: Vec<usize>,
    pads: Vec<(usize, usize)>,
    /// The constant's bits (f32).
    value: u32,
}

impl ConstantPad {
    fn of(pad: &Pad, input: Vec<usize>) -> Option<ConstantPad> {
        let PadMode::Constant(value) = &pad.mode else { return None };
        let value = value.cast_to_scalar::<f32>().ok()?;
        (!input.is_empty() && pad.pads.len() == input.len()).then(|| ConstantPad {
            input,
            pads: pad.pads.clone(),
            value: value.to_bits(),
        })
    }

    fn output_shape(&self) -> Vec<usize> {
        self.input.iter().zip(&self.pads).map(|(n, (before, after))| n + before + after).collect()
    }
}

impl Op for ConstantPad {
    fn name(&self) -> StaticName {
        "ConstantPad".into()
    }

    op_as_typed_op!();
}

impl EvalOp for ConstantPad {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let plain = inputs[0].try_as_plain_ram()?;
        let input = plain.as_slice::<f32>()?;
        ensure!(input.len() == self.input.iter().product::<usize>(), "ConstantPad: input of {} values", input.len());
        let shape = self.output_shape();
        let value = f32::from_bits(self.value);
        let rank = shape.len();
        let (width, (before, _)) = (self.input[rank - 1], self.pads[rank - 1]);
        let output = filled(&shape, |out| {
            out.par_chunks_mut(shape[rank - 1]).with_min_len(min_items(shape[rank - 1])).enumerate().for_each(
                |(row, out_row)| {
                    // the input row this output row copies, if it is not padding
                    let mut source = Some(0usize);
                    let mut rest = row;
                    let mut stride = 1;
                    for axis in (0..rank - 1).rev() {
                        let at = rest % shape[axis];
                        rest /= shape[axis];
                        let inside = at.checked_sub(self.pads[axis].0).filter(|&i| i < self.input[axis]);
                        source = source.zip(inside).map(|(s, i)| s + i * stride);
                        stride *= self.input[axis];
                    }
                    match source {
                        Some(r) => {
                            out_row[..before].fill(value);
                            out_row[before..before + width].copy_from_slice(&input[r * width..][..width]);
                            out_row[before + width..].fill(value);
                        }
                        None => out_row.fill(value),
                    }
                },
            )
        })?;
        Ok(tvec!(output))
    }
}

impl TypedOp for ConstantPad {
    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(self.output_shape())))
    }

    as_op!();
}

/// Where a 3D window (a pooling's, a transposed convolution's kernel) sits: the input's and the
/// output's spatial dims and the window's own geometry.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub(crate) struct Window3d {
    /// The input's spatial dims.
    pub input: [usize; 3],
    /// The output's spatial dims.
    pub output: [usize; 3],
    /// The kernel's spatial dims.
    pub kernel: [usize; 3],
    pub strides: [usize; 3],
    pub dilations: [usize; 3],
    /// Padding at the start of each axis (ONNX `pads` before).
    pub pad_before: [usize; 3],
}

/// Max-pooling of `N C D H W` volumes (padding ignored), one output plane per rayon task.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct MaxPool3d {
    /// Batch × channels.
    planes: usize,
    window: Window3d,
    /// The output shape, batch and channel axes included.
    output_shape: Vec<usize>,
}

impl MaxPool3d {
    fn of(pool: &OptMaxPool, shape: &[usize]) -> TractResult<Option<MaxPool3d>> {
        let spec = &pool.pool_spec;
        if pool.with_index_outputs.is_some() || spec.rank() != 3 || spec.data_format.c_is_last() {
            return Ok(None);
        }
        let data = spec.data_format.shape(shape.to_vec())?;
        let three = |v: &[usize]| [v[0], v[1], v[2]];
        let input = three(data.hw_dims());
        let geometry = spec.padding.compute(&input, &spec.kernel_shape, &spec.dilations(), &spec.strides());
        let output = [geometry[0].convoluted, geometry[1].convoluted, geometry[2].convoluted];
        let mut output_shape: Vec<usize> = shape[..shape.len() - 3].to_vec();
        output_shape.extend(output);
        Ok(Some(MaxPool3d {
            planes: shape[..shape.len() - 3].iter().product(),
            window: Window3d {
                input,
                output,
                kernel: three(&spec.kernel_shape),
                strides: three(&spec.strides()),
                dilations: three(&spec.dilations()),
                pad_before: [geometry[0].pad_before, geometry[1].pad_before, geometry[2].pad_before],
            },
            output_shape,
        }))
    }

    /// The input indices along `axis` of output `o`'s window (padding left out).
    fn inputs_of(&self, axis: usize, o: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.window.kernel[axis]).filter_map(move |k| {
            let at = (o * self.window.strides[axis] + k * self.window.dilations[axis])
                .checked_sub(self.window.pad_before[axis])?;
            (at < self.window.input[axis]).then_some(at)
        })
    }
}

impl Op for MaxPool3d {
    fn name(&self) -> StaticName {
        "MaxPool3d".into()
    }

    op_as_typed_op!();
}

impl EvalOp for MaxPool3d {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let plain = inputs[0].try_as_plain_ram()?;
        let input = plain.as_slice::<f32>()?;
        let [id, ih, iw] = self.window.input;
        let [od, oh, ow] = self.window.output;
        ensure!(input.len() == self.planes * id * ih * iw, "MaxPool3d: input of {} values", input.len());
        let windows =
            |axis: usize, n: usize| -> Vec<Vec<usize>> { (0..n).map(|o| self.inputs_of(axis, o).collect()).collect() };
        let (zs, ys, xs) = (windows(0, od), windows(1, oh), windows(2, ow));
        let output = filled(&self.output_shape, |out| {
            out.par_chunks_mut(oh * ow).with_min_len(min_items(oh * ow)).enumerate().for_each(|(ix, plane)| {
                let (volume, oz) = (ix / od, ix % od);
                let volume = &input[volume * id * ih * iw..][..id * ih * iw];
                for (row, ys) in plane.chunks_exact_mut(ow).zip(&ys) {
                    // tract's fold per value: the largest, from the lowest f32, over the window
                    // in (z, y, x) order
                    row.fill(f32::MIN);
                    for &z in &zs[oz] {
                        for &y in ys {
                            let line = &volume[(z * ih + y) * iw..][..iw];
                            for (max, xs) in row.iter_mut().zip(&xs) {
                                for &x in xs {
                                    if line[x] > *max {
                                        *max = line[x];
                                    }
                                }
                            }
                        }
                    }
                }
            })
        })?;
        Ok(tvec!(output))
    }
}

impl TypedOp for MaxPool3d {
    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(&self.output_shape)))
    }

    as_op!();
}

/// A sum or a mean of squares along the last axis, blocks of rows on the rayon pool, each row
/// summed by tract's own reduction kernel as tract does.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct RowReduce {
    input: Vec<usize>,
    squares: bool,
}

impl RowReduce {
    fn of(reduce: &Reduce, input: Vec<usize>) -> Option<RowReduce> {
        let last = input.len().checked_sub(1)?;
        let squares = match reduce.reducer {
            Reducer::Sum => false,
            Reducer::MeanOfSquares => true,
            _ => return None,
        };
        (*reduce.axes == [last] && input[last] > 0).then_some(RowReduce { input, squares })
    }
}

impl Op for RowReduce {
    fn name(&self) -> StaticName {
        if self.squares { "RowMeanOfSquares" } else { "RowSum" }.into()
    }

    op_as_typed_op!();
}

impl EvalOp for RowReduce {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let plain = inputs[0].try_as_plain_ram()?;
        let input = plain.as_slice::<f32>()?;
        let width = *self.input.last().expect("rank ≥ 1");
        ensure!(input.len() == self.input.iter().product::<usize>(), "RowReduce: input of {} values", input.len());
        let kernel = tract_linalg::Func::ReduceSum.reduce_f32()?;
        let sum = |row: &[f32]| -> f32 {
            // tract: its kernel from 4 values on, a plain sum below
            if width >= 4 {
                kernel.run(row).expect("the sum kernel runs on any slice")
            } else {
                row.iter().sum()
            }
        };
        // tract's mean of squares: the sum of squares times (outputs / inputs), in f32
        let norm = (input.len() / width) as f32 / input.len() as f32;
        let mut shape = self.input.clone();
        *shape.last_mut().expect("rank ≥ 1") = 1;
        let output = filled(&shape, |out| {
            out.par_chunks_mut(ROWS_PER_TASK)
                .zip(input.par_chunks(ROWS_PER_TASK * width))
                .with_min_len(min_items(ROWS_PER_TASK * width))
                .for_each(|(out, rows)| {
                    if !self.squares {
                        out.iter_mut().zip(rows.chunks_exact(width)).for_each(|(value, row)| *value = sum(row));
                        return;
                    }
                    // tract squares the whole input into one aligned tensor and its kernel's
                    // grouping of additions follows each row's address: square a block of rows
                    // into an aligned tensor too (a block starts 256 rows in, so every row keeps
                    // tract's alignment)
                    let mut squared = unsafe { Tensor::uninitialized::<f32>(&[rows.len()]) }.expect("a block of rows");
                    let mut plain = squared.try_as_plain_ram_mut().expect("a plain tensor");
                    let squared = plain.as_slice_mut::<f32>().expect("f32");
                    squared.iter_mut().zip(rows).for_each(|(s, v)| *s = v * v);
                    for (value, row) in out.iter_mut().zip(squared.chunks_exact(width)) {
                        *value = sum(row) * norm;
                    }
                })
        })?;
        Ok(tvec!(output))
    }
}

impl TypedOp for RowReduce {
    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let mut shape = self.input.clone();
        *shape.last_mut().expect("rank ≥ 1") = 1;
        Ok(tvec!(f32::fact(shape)))
    }

    as_op!();
}

/// A resize of the spatial axes (2 on) of `[N, C, …]`, each of the N·C channels on the rayon pool
/// through tract's plan and kernel for each axis in turn, as tract's op does for the whole tensor.
#[derive(Clone, Debug, PartialEq)]
struct ChannelResize {
    resize: Resize,
    input: Vec<usize>,
    output: Vec<usize>,
    /// Scale per spatial axis, as tract's op computes it.
    scales: Vec<f32>,
}

impl std::hash::Hash for ChannelResize {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (&self.resize, &self.input, &self.output).hash(state);
        self.scales.iter().for_each(|s| s.to_bits().hash(state));
    }
}

impl Eq for ChannelResize {}

impl ChannelResize {
    /// The stand-in for `resize` at `node` (input `shape`), when its output shape and scales are
    /// known before running and it leaves N and C alone.
    fn of(resize: &Resize, model: &TypedModel, node: &TypedNode, input: Vec<usize>) -> TractResult<Option<Self>> {
        let output_fact = model.outlet_fact(OutletId::new(node.id, 0))?;
        let Some(output) = output_fact.shape.as_concrete().map(|s| s.to_vec()) else { return Ok(None) };
        if input.len() < 3 || output.len() != input.len() || output[..2] != input[..2] {
            return Ok(None);
        }
        let given = match resize.optional_scales_input.and_then(|i| node.inputs.get(i)) {
            Some(outlet) => match &model.outlet_fact(*outlet)?.konst {
                Some(scales) if scales.len() == input.len() => {
                    Some(scales.cast_to::<f32>()?.try_as_plain_ram()?.as_slice::<f32>()?.to_vec())
                }
                Some(_) => None,
                None => return Ok(None),
            },
            None => None,
        };
        let scales: Vec<f32> = match given {
            Some(scales) if scales[..2] == [1.0, 1.0] => scales[2..].to_vec(),
            Some(_) => return Ok(None),
            None => (2..input.len()).map(|a| output[a] as f32 / input[a] as f32).collect(),
        };
        Ok(Some(ChannelResize { resize: resize.clone(), input, output, scales }))
    }
}

impl Op for ChannelResize {
    fn name(&self) -> StaticName {
        "ChannelResize".into()
    }

    op_as_typed_op!();
}

impl EvalOp for ChannelResize {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let plain = inputs[0].try_as_plain_ram()?;
        let input = plain.as_slice::<f32>()?;
        let (channel_in, channel_out) =
            (self.input[2..].iter().product::<usize>(), self.output[2..].iter().product::<usize>());
        ensure!(input.len() == self.input.iter().product::<usize>(), "ChannelResize: {} values", input.len());
        let plans: Vec<_> = self
            .scales
            .iter()
            .enumerate()
            .map(|(a, &scale)| {
                let (len_in, len_out) = (self.input[a + 2], self.output[a + 2]);
                // tract skips an axis that keeps its length at scale 1
                (len_in != len_out || scale != 1.0).then(|| self.resize.plan_axis(scale, len_in, len_out))
            })
            .collect();
        let output = filled(&self.output, |out| {
            let channels = out.par_chunks_mut(channel_out).zip(input.par_chunks(channel_in));
            channels.with_min_len(min_items(channel_in)).for_each(|(out, channel)| {
                let mut shape = self.input[2..].to_vec();
                let mut data = channel.to_vec();
                for (axis, plan) in plans.iter().enumerate() {
                    let Some(plan) = plan else { continue };
                    let len_out = self.output[axis + 2];
                    let mut resampled = vec![0f32; data.len() / shape[axis] * len_out];
                    resample_axis(&data, &shape, axis, plan, 0.0, &mut resampled);
                    data = resampled;
                    shape[axis] = len_out;
                }
                out.copy_from_slice(&data);
            })
        })?;
        Ok(tvec!(output))
    }
}

impl TypedOp for ChannelResize {
    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(self.output.clone())))
    }

    as_op!();
}

/// tract's matrix product over batch axes, the batch items in blocks on the rayon pool: each item
/// with the operands and fused ops tract resolves for it and tract's kernel, into its own part of
/// the output, so the same values bit for bit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BatchMatMul {
    matmul: OptMatMul,
    /// The output's shape.
    output: Vec<usize>,
    /// The output's shape with the m and n axes 1: one position per batch item.
    items: Vec<usize>,
}

impl BatchMatMul {
    /// The stand-in for `matmul` when its output shape is known and it loops over 2 or more
    /// batch items.
    fn of(matmul: &OptMatMul) -> Option<BatchMatMul> {
        let output = matmul.c_fact.shape.as_concrete()?.to_vec();
        let mut items = output.clone();
        for axis in [matmul.c_m_axis, matmul.c_n_axis].into_iter().flatten() {
            items[axis] = 1;
        }
        let many = items.iter().product::<usize>() >= 2;
        (!matmul.trivial_path && many).then(|| BatchMatMul { matmul: matmul.clone(), output, items })
    }
}

impl Op for BatchMatMul {
    fn name(&self) -> StaticName {
        "BatchMatMul".into()
    }

    op_as_typed_op!();
}

impl EvalOp for BatchMatMul {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let op = &self.matmul;
        let size = |axis: Option<usize>| axis.map_or(1, |a| self.output[a]);
        let (m, n) = (size(op.c_m_axis), size(op.c_n_axis));
        let mode = op.mode_picker.pick(n)?;
        let mmm = &*op.mmm[mode];
        let items: Vec<_> = tract_ndarray::indices(&*self.items).into_iter().collect();
        // SAFETY: every value of the output is written: the items cover it, each its own m × n
        // block, written by tract's kernel as in tract's own loop.
        let output = unsafe { Tensor::uninitialized_dt(op.c_fact.datum_type, &self.output)? };
        items.par_iter().with_min_len(min_items(m * n)).try_for_each_init(
            // SAFETY: a scratch space for this product's kernel, used by one thread at a time.
            || unsafe { mmm.allocate_scratch_space() },
            |scratch, item| {
                let specs: Vec<_> =
                    op.micro_ops.iter().map(|o| o.resolve(&inputs, item.slice(), &output, mmm, mode)).collect();
                // SAFETY: as in tract's loop: the specs were resolved for this kernel and mode; the
                // items' output blocks do not overlap.
                unsafe { mmm.run_with_scratch_space(m, n, scratch.as_mut(), &specs) }
            },
        )?;
        Ok(tvec!(output.into_tvalue()))
    }
}

impl TypedOp for BatchMatMul {
    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(self.matmul.c_fact.clone()))
    }

    as_op!();
}

/// Softmax along the last axis, rows in blocks on the rayon pool, each row in one pass.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct RowSoftmax {
    input: Vec<usize>,
}

impl RowSoftmax {
    fn of(softmax: &Softmax, input: Vec<usize>) -> Option<RowSoftmax> {
        let last = input.len().checked_sub(1)?;
        let plain = softmax.kind == SoftmaxKind::Softmax && softmax.quant_output_dt.is_none();
        (plain && *softmax.axes == [last] && input[last] > 0).then_some(RowSoftmax { input })
    }
}

impl Op for RowSoftmax {
    fn name(&self) -> StaticName {
        "RowSoftmax".into()
    }

    op_as_typed_op!();
}

impl EvalOp for RowSoftmax {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let mut tensor = args_1!(inputs).into_tensor();
        let width = *self.input.last().expect("rank ≥ 1");
        {
            let mut plain = tensor.try_as_plain_ram_mut()?;
            let values = plain.as_slice_mut::<f32>()?;
            ensure!(values.len() == self.input.iter().product::<usize>(), "RowSoftmax: {} values", values.len());
            values
                .par_chunks_mut(ROWS_PER_TASK * width)
                .with_min_len(min_items(ROWS_PER_TASK * width))
                .for_each(|rows| rows.chunks_exact_mut(width).for_each(softmax_row));
        }
        Ok(tvec!(tensor.into_tvalue()))
    }
}

impl TypedOp for RowSoftmax {
    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(self.input.clone())))
    }

    as_op!();
}

/// Softmax of one row: max, `exp(x − max)` with [`fast_exp`], their sum in 8 lanes, times
/// 1 / sum.
fn softmax_row(row: &mut [f32]) {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| if x > m { x } else { m });
    row.iter_mut().for_each(|x| *x = fast_exp(*x - max));
    let mut lanes = [0f32; 8];
    let mut blocks = row.chunks_exact(8);
    for block in &mut blocks {
        lanes.iter_mut().zip(block).for_each(|(l, x)| *l += x);
    }
    let sum = lanes.iter().sum::<f32>() + blocks.remainder().iter().sum::<f32>();
    let inverse = 1.0 / sum;
    row.iter_mut().for_each(|x| *x *= inverse);
}

/// `e^x` for x ≤ 88, 0 below −70 (e^−70 ≈ 4e−31: nothing a softmax needs, and it keeps
/// the results and what is computed from them away from subnormal numbers, which x86 computes
/// a hundred times slower). Written without branches so loops over it vectorize: x = n·ln 2 + r
/// with n rounded by the 1.5·2²³ trick, Cephes' degree-6 polynomial for e^r, 2^n from the
/// exponent bits.
#[inline(always)]
fn fast_exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2²³: adding it rounds to an integer
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const CUTOFF: f32 = -70.0;
    let clamped = x.clamp(CUTOFF, 88.0);
    let shifted = clamped * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = clamped - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let e_r = p * r * r + r + 1.0;
    let exponent = (shifted.to_bits() as i32 - ROUND.to_bits() as i32 + 127) as u32;
    let value = e_r * f32::from_bits(exponent << 23);
    if x < CUTOFF {
        0.0
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::deconv::tests::random;
    use tract_onnx::tract_core::ops::cnn::{MaxPool, PaddingSpec, PoolSpec};
    use tract_onnx::tract_core::ops::nn::DataFormat;

    /// A one-op model on an input of `shape`, run as tract optimizes it and with [`parallelize`];
    /// the outputs must be equal bit for bit, and `replaced` ops must have been swapped in.
    fn check(shape: &[usize], op: impl Into<Box<dyn TypedOp>>, replaced: &str) {
        check_inputs(&[shape], op, replaced);
    }

    /// [`check`] for an op of several inputs of these `shapes`.
    fn check_inputs(shapes: &[&[usize]], op: impl Into<Box<dyn TypedOp>>, replaced: &str) {
        let mut model = TypedModel::default();
        let sources: Vec<OutletId> =
            shapes.iter().enumerate().map(|(i, s)| model.add_source(format!("x{i}"), f32::fact(*s)).unwrap()).collect();
        let y = model.wire_node("op", op.into(), &sources).unwrap();
        model.select_output_outlets(&y).unwrap();
        let optimized = model.into_optimized().unwrap();
        let mut parallel = optimized.clone();
        parallelize(&mut parallel).unwrap();
        assert!(parallel.nodes().iter().any(|n| n.op.name() == replaced), "{replaced} swapped in");
        let inputs: TVec<TValue> = shapes.iter().zip(5..).map(|(s, seed)| random(s, seed).into_tvalue()).collect();
        let run = |m: TypedModel| m.into_runnable().unwrap().run(inputs.clone()).unwrap().remove(0);
        let (expected, got) = (run(optimized), run(parallel));
        assert_eq!(expected.shape(), got.shape());
        let (e, g) = (expected.to_plain_array_view::<f32>().unwrap(), got.to_plain_array_view::<f32>().unwrap());
        let differing = e.iter().zip(g.iter()).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
        assert_eq!(differing, 0, "{replaced}: {differing} of {} values differ from tract's", e.len());
    }

    #[test]
    fn constant_padding_equals_tracts() {
        let pad = |pads: Vec<(usize, usize)>, value: f32| Pad { pads, mode: PadMode::Constant(rctensor0(value)) };
        check(&[1, 2, 5, 6, 7], pad(vec![(0, 0), (0, 0), (3, 2), (1, 0), (2, 3)], 0.0), "ConstantPad");
        check(&[3, 4], pad(vec![(1, 2), (0, 1)], -1.5), "ConstantPad");
    }

    #[test]
    fn max_pooling_equals_tracts() {
        let pool = |kernel: [usize; 3], strides: [usize; 3], pads: [usize; 3]| MaxPool {
            pool_spec: PoolSpec {
                data_format: DataFormat::NCHW,
                kernel_shape: kernel.into_iter().collect(),
                padding: PaddingSpec::Explicit(pads.into_iter().collect(), pads.into_iter().collect()),
                dilations: None,
                strides: Some(strides.into_iter().collect()),
                input_channels: 3,
                output_channels: 3,
            },
            with_index_outputs: None,
        };
        // deepbet's: kernel 3, stride 2, pads 1
        check(&[1, 3, 9, 8, 7], pool([3, 3, 3], [2, 2, 2], [1, 1, 1]), "MaxPool3d");
        check(&[2, 3, 5, 6, 4], pool([2, 3, 1], [1, 2, 1], [0, 1, 0]), "MaxPool3d");
    }

    #[test]
    fn the_fast_exp_is_within_2_ulp_of_the_exact_one() {
        let mut worst = 0f32;
        for i in 0..=200_000 {
            let x = -70.0 + 88.0 * i as f32 / 200_000.0;
            let (got, exact) = (fast_exp(x), (f64::from(x)).exp() as f32);
            worst = worst.max((got - exact).abs() / exact);
        }
        assert!(worst <= 2.0 * f32::EPSILON, "largest relative error {worst:e}");
        assert_eq!(fast_exp(0.0), 1.0);
        assert_eq!(fast_exp(-70.5), 0.0, "0 below −70, never a subnormal");
        assert_eq!(fast_exp(f32::NEG_INFINITY), 0.0);
    }

    #[test]
    fn row_softmax_is_within_a_millionth_of_tracts() {
        for shape in [[37usize, 49], [6, 196], [300, 5], [2, 1]] {
            let op = Softmax { axes: tvec!(1), quant_output_dt: None, kind: SoftmaxKind::Softmax };
            let mut model = TypedModel::default();
            let x = model.add_source("x", f32::fact(shape)).unwrap();
            let y = model.wire_node("op", op, &[x]).unwrap();
            model.select_output_outlets(&y).unwrap();
            let optimized = model.into_optimized().unwrap();
            let mut replaced = optimized.clone();
            parallelize(&mut replaced).unwrap();
            assert!(replaced.nodes().iter().any(|n| n.op.name() == "RowSoftmax"), "{shape:?}");
            // Scores spread like attention logits (several units apart).
            let input: Tensor = random(&shape, 9).to_plain_array_view::<f32>().unwrap().mapv(|v| v * 8.0).into();
            let run =
                |m: TypedModel| m.into_runnable().unwrap().run(tvec!(input.clone().into_tvalue())).unwrap().remove(0);
            let (expected, got) = (run(optimized), run(replaced));
            let (e, g) = (expected.to_plain_array_view::<f32>().unwrap(), got.to_plain_array_view::<f32>().unwrap());
            let largest = e.iter().zip(g.iter()).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(largest <= 1e-6, "{shape:?}: largest |Δ| {largest:e}");
            for row in g.as_slice().unwrap().chunks(shape[1]) {
                assert!((row.iter().sum::<f32>() - 1.0).abs() <= 1e-5, "{shape:?}: a row sums to 1");
            }
        }
    }

    #[test]
    fn channel_resizing_equals_tracts() {
        use tract_onnx::tract_core::ops::nn::resize::{CoordTransformer, Interpolator, Nearest};
        for (coord, interpolator) in [
            (CoordTransformer::AlignCorners, Interpolator::Linear),
            (CoordTransformer::HalfPixel, Interpolator::Linear),
            (CoordTransformer::PytorchHalfPixel, Interpolator::Cubic),
        ] {
            let resize = Resize {
                coord_transformer: coord,
                interpolator,
                nearest: Nearest::Floor,
                optional_scales_input: Some(1),
                optional_sizes_input: None,
            };
            let mut model = TypedModel::default();
            let x = model.add_source("x", f32::fact([1, 3, 5, 6, 7])).unwrap();
            let scales = model.add_const("scales", rctensor1(&[1.0f32, 1.0, 2.0, 2.0, 2.0])).unwrap();
            let y = model.wire_node("op", resize, &[x, scales]).unwrap();
            model.select_output_outlets(&y).unwrap();
            let input = random(&[1, 3, 5, 6, 7], 3);
            let optimized = model.into_optimized().unwrap();
            let mut parallel = optimized.clone();
            parallelize(&mut parallel).unwrap();
            assert!(parallel.nodes().iter().any(|n| n.op.name() == "ChannelResize"), "ChannelResize swapped in");
            let run =
                |m: TypedModel| m.into_runnable().unwrap().run(tvec!(input.clone().into_tvalue())).unwrap().remove(0);
            let (expected, got) = (run(optimized), run(parallel));
            assert_eq!(expected.shape(), &[1, 3, 10, 12, 14]);
            assert_eq!(expected.shape(), got.shape());
            let (e, g) = (expected.to_plain_array_view::<f32>().unwrap(), got.to_plain_array_view::<f32>().unwrap());
            let differing = e.iter().zip(g.iter()).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
            assert_eq!(differing, 0, "{differing} of {} values differ from tract's", e.len());
        }
    }

    #[test]
    fn batched_matrix_products_equal_tracts() {
        use tract_onnx::tract_core::ops::einsum::EinSum;
        // attention's shapes in LiteMedSAM's encoder, smaller: scores (q·kᵀ) and weighted values,
        // then a batch of one (tract's loop has one item: left to tract)
        for (expression, a, b, swapped) in [
            ("bhmk,bhnk->bhmn", vec![3, 4, 49, 32], vec![3, 4, 49, 32], true),
            ("bmk,bkn->bmn", vec![25, 49, 49], vec![25, 49, 32], true),
            ("bmk,bkn->bmn", vec![1, 49, 49], vec![1, 49, 32], false),
        ] {
            let mut model = TypedModel::default();
            let x = model.add_source("a", f32::fact(&a)).unwrap();
            let y = model.add_source("b", f32::fact(&b)).unwrap();
            let op = EinSum::new(expression.parse().unwrap(), f32::datum_type());
            let z = model.wire_node("op", op, &[x, y]).unwrap();
            model.select_output_outlets(&z).unwrap();
            let optimized = model.into_optimized().unwrap();
            let mut parallel = optimized.clone();
            parallelize(&mut parallel).unwrap();
            let found = parallel.nodes().iter().any(|n| n.op.name() == "BatchMatMul");
            assert_eq!(found, swapped, "{expression} {a:?}: BatchMatMul swapped in");
            let inputs = tvec!(random(&a, 1).into_tvalue(), random(&b, 2).into_tvalue());
            let run = |m: TypedModel| m.into_runnable().unwrap().run(inputs.clone()).unwrap().remove(0);
            let (expected, got) = (run(optimized), run(parallel));
            assert_eq!(expected.shape(), got.shape());
            let (e, g) = (expected.to_plain_array_view::<f32>().unwrap(), got.to_plain_array_view::<f32>().unwrap());
            let differing = e.iter().zip(g.iter()).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
            assert_eq!(differing, 0, "{expression}: {differing} of {} values differ from tract's", e.len());
        }
    }

    #[test]
    fn row_sums_and_means_of_squares_equal_tracts() {
        let reduce = |reducer, axis| Reduce { axes: tvec!(axis), reducer };
        check(&[2, 3, 4, 1000], reduce(Reducer::Sum, 3), "RowSum");
        check(&[2, 3, 4, 1000], reduce(Reducer::MeanOfSquares, 3), "RowMeanOfSquares");
        check(&[5, 3], reduce(Reducer::MeanOfSquares, 1), "RowMeanOfSquares");
        // rows not a multiple of 4 values long start at every alignment: the kernel's grouping
        // of additions follows it
        check(&[300, 6], reduce(Reducer::MeanOfSquares, 1), "RowMeanOfSquares");
        check(&[300, 7], reduce(Reducer::Sum, 1), "RowSum");
    }

    #[test]
    fn broadcast_sums_and_products_equal_tracts() {
        use tract_onnx::tract_core::ops::math;
        let add = || TypedBinOp(Box::new(math::Add), None);
        let mul = || TypedBinOp(Box::new(math::Mul), None);
        check_inputs(&[&[2, 64, 9, 11], &[1, 64, 1, 1]], add(), "BroadcastAdd");
        check_inputs(&[&[1, 40, 96], &[1, 1, 96]], mul(), "BroadcastMul");
        check_inputs(&[&[3, 1, 8], &[1, 5, 1]], add(), "BroadcastAdd"); // both broadcast
        check_inputs(&[&[5, 7, 1], &[5, 7, 6]], mul(), "BroadcastMul");
    }
}
