//! 3D transposed convolutions (ConvTranspose) on the CPU, rewritten before tract plans them.
//!
//! tract lowers a transposed convolution to a matrix product (kernel × input, one column of
//! kernel taps per input voxel) and a scatter of those columns into the output (`DeconvSum`).
//! Its 3D scatter visits every tap of every voxel on one thread, with five-dimensional index
//! arithmetic and bound checks per value: 16 % of deepbet's time, all of it outside the thread
//! pool. [`rewrite_deconvolutions`] keeps tract's matrix product and replaces the scatter with
//! [`DeconvScatter3d`]: whole rows of taps added at once, one output plane per task on the
//! rayon pool. Each output value receives the bias, then its taps in tract's order, so the result
//! is the same bit for bit on any number of threads.

use rayon::prelude::*;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::cnn::{wire_reshape_bias_as_vector, Deconv};
use tract_onnx::tract_core::ops::einsum::EinSum;

use crate::engine::parallel_ops::Window3d;
use crate::engine::threads::min_items;

/// Replaces every 3D, ungrouped, channels-first f32 `Deconv` of `model` (decluttered, with
/// concrete shapes) by tract's matrix product and a [`DeconvScatter3d`]; others stay as they are.
pub fn rewrite_deconvolutions(model: &mut TypedModel) -> TractResult<()> {
    for id in model.eval_order()? {
        let node = model.node(id);
        let Some(deconv) = node.op_as::<Deconv>() else { continue };
        let Some(scatter) = DeconvScatter3d::for_node(model, node, deconv)? else { continue };
        let mut patch = TypedModelPatch::default();
        let taps = patch.taps(model, &node.inputs)?;
        let output = wire(&mut patch, &node.name, deconv, scatter, &taps)?;
        patch.shunt_outside(model, id.into(), output)?;
        patch.apply(model)?;
    }
    Ok(())
}

/// Wires input → (N) I HW, kernel → (O·taps) I, their product (N) (O·taps) HW, the bias as a
/// vector of O, and the scatter.
fn wire(
    patch: &mut TypedModelPatch,
    name: &str,
    deconv: &Deconv,
    scatter: DeconvScatter3d,
    inputs: &[OutletId],
) -> TractResult<OutletId> {
    let input_shape = patch.outlet_fact(inputs[0])?.shape.to_tvec();
    let shape = deconv.pool_spec.data_format.shape(input_shape)?;
    let voxels: TDim = shape.hw_dims().iter().product();
    let input = patch.wire_node(
        format!("{name}.reshaped_input"),
        AxisOp::Reshape(shape.h_axis(), shape.hw_dims().into(), tvec!(voxels)),
        &[inputs[0]],
    )?;
    let kernel_fact = patch.outlet_fact(inputs[1])?.clone();
    let mut kernel = tvec!(inputs[1]);
    for (ix, op) in deconv.kernel_format.kernel_as_group_o_i_hw_ops(&kernel_fact.shape, 1).into_iter().enumerate() {
        kernel = patch.wire_node(format!("{name}.kernel.{ix}"), op, &kernel)?;
    }
    // g o i taps → g o taps i → g (o·taps) i → (o·taps) i
    kernel = patch.wire_node(format!("{name}.kernel.mv_i"), AxisOp::Move(2, 3), &kernel)?;
    kernel = AxisOp::wire_collapse_axis(patch, format!("{name}.kernel.col_ohw"), kernel[0], 1)?;
    kernel = patch.wire_node(format!("{name}.kernel.rm_g"), AxisOp::Rm(0), &kernel)?;
    let expr = if scatter.has_n { "mk,Nkn->Nmn" } else { "mk,kn->mn" };
    let product = patch.wire_node(
        format!("{name}.einsum"),
        EinSum { axes: expr.parse()?, operating_dt: kernel_fact.datum_type, q_params: None },
        &[kernel[0], input[0]],
    )?;
    let bias = wire_reshape_bias_as_vector(patch, format!("{name}.bias"), inputs[2], scatter.channels)?;
    Ok(patch.wire_node(format!("{name}.scatter"), scatter, &[product[0], bias[0]])?[0])
}

/// The scatter of a 3D transposed convolution: from the matrix product `(N) (C·taps) voxels` and
/// a bias of C values, the output `(N) C D H W`.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct DeconvScatter3d {
    /// Whether the tensors have a leading batch axis.
    has_n: bool,
    /// Batch size (1 without a batch axis).
    batch: usize,
    /// Output channels.
    channels: usize,
    window: Window3d,
}

impl DeconvScatter3d {
    /// The scatter for `deconv` at `node` when this rewrite applies to it.
    fn for_node(model: &TypedModel, node: &TypedNode, deconv: &Deconv) -> TractResult<Option<DeconvScatter3d>> {
        let spec = &deconv.pool_spec;
        let fact = model.outlet_fact(node.inputs[0])?;
        if deconv.group != 1 || spec.rank() != 3 || spec.data_format.c_is_last() || fact.datum_type != f32::datum_type()
        {
            return Ok(None);
        }
        let Some(dims) = fact.shape.as_concrete() else { return Ok(None) };
        let shape = spec.data_format.shape(dims.to_vec())?;
        let input: [usize; 3] = [shape.hw_dims()[0], shape.hw_dims()[1], shape.hw_dims()[2]];
        let output_shape = tract_onnx::tract_core::ops::cnn::deconv::output_shape(spec, dims, &deconv.adjustments)?;
        let output_shape = spec.data_format.shape(output_shape)?;
        let padding = spec.padding.compute_for_deconv(
            &input,
            &spec.kernel_shape,
            &spec.dilations(),
            &spec.strides(),
            &deconv.adjustments,
        )?;
        let three = |values: &[usize]| [values[0], values[1], values[2]];
        Ok(Some(DeconvScatter3d {
            has_n: spec.data_format.has_n(),
            batch: shape.n().copied().unwrap_or(1),
            channels: spec.output_channels,
            window: Window3d {
                input,
                output: three(output_shape.hw_dims()),
                kernel: three(&spec.kernel_shape),
                strides: three(&spec.strides()),
                dilations: three(&spec.dilations()),
                pad_before: [padding[0].pad_before, padding[1].pad_before, padding[2].pad_before],
            },
        }))
    }

    fn output_shape(&self) -> TVec<usize> {
        let mut shape: TVec<usize> = if self.has_n { tvec!(self.batch) } else { tvec!() };
        shape.push(self.channels);
        shape.extend(self.window.output);
        shape
    }

    /// The input indices `lo..hi` along `axis` whose tap `k` lands inside the output, and the output
    /// index of `lo` (`None` when none does).
    fn landing(&self, axis: usize, k: usize) -> Option<(usize, usize, usize)> {
        let offset = (k * self.window.dilations[axis]) as isize - self.window.pad_before[axis] as isize;
        let stride = self.window.strides[axis] as isize;
        // the smallest g with offset + g·stride ≥ 0, and the first g with offset + g·stride ≥ output
        let first = |bound: isize| ((bound - offset).max(0) + stride - 1) / stride;
        let lo = first(0) as usize;
        let hi = (first(self.window.output[axis] as isize) as usize).min(self.window.input[axis]);
        (lo < hi).then(|| (lo, hi, (offset + lo as isize * stride) as usize))
    }

    /// The taps `k` (ascending) of `axis` that land on output index `o`, each with its input index.
    fn sources(&self, axis: usize, o: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.window.kernel[axis]).filter_map(move |k| {
            let at = (o + self.window.pad_before[axis]).checked_sub(k * self.window.dilations[axis])?;
            (at % self.window.strides[axis] == 0 && at / self.window.strides[axis] < self.window.input[axis])
                .then(|| (k, at / self.window.strides[axis]))
        })
    }

    /// Adds to `plane`, output plane `oz` of one channel holding its bias, the taps that land
    /// on it (`columns`: the channel's taps × input voxels). Row by row, so a row stays in cache
    /// while its taps are added, in tract's order (taps ascending).
    fn scatter_plane(&self, columns: &[f32], oz: usize, plane: &mut [f32]) {
        let [_, ih, iw] = self.window.input;
        let [_, kh, kw] = self.window.kernel;
        let voxels = self.window.input.iter().product::<usize>();
        let ow = self.window.output[2];
        let along_x: Vec<Option<(usize, usize, usize)>> = (0..kw).map(|kx| self.landing(2, kx)).collect();
        for (oy, out_row) in plane.chunks_exact_mut(ow).enumerate() {
            for (kz, gz) in self.sources(0, oz) {
                for (ky, gy) in self.sources(1, oy) {
                    for (kx, xs) in along_x.iter().enumerate() {
                        let Some((lo, hi, first)) = *xs else { continue };
                        let tap = (kz * kh + ky) * kw + kx;
                        let row = &columns[tap * voxels + (gz * ih + gy) * iw..][lo..hi];
                        for (value, ox) in row.iter().zip((first..).step_by(self.window.strides[2])) {
                            out_row[ox] += value;
                        }
                    }
                }
            }
        }
    }
}

impl Op for DeconvScatter3d {
    fn name(&self) -> StaticName {
        "DeconvScatter3d".into()
    }

    op_as_typed_op!();
}

impl EvalOp for DeconvScatter3d {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (product, bias) = args_2!(inputs);
        let product = product.try_as_plain_ram()?;
        let columns = product.as_slice::<f32>()?;
        let bias = bias.try_as_plain_ram()?;
        let bias = bias.as_slice::<f32>()?;
        let taps = self.window.kernel.iter().product::<usize>() * self.window.input.iter().product::<usize>();
        ensure!(
            columns.len() == self.batch * self.channels * taps && bias.len() == self.channels,
            "DeconvScatter3d: {} products and {} biases for {} × {} channels of {taps} taps",
            columns.len(),
            bias.len(),
            self.batch,
            self.channels
        );
        // Every value is written (bias first): no zeroing, and no copy into a tensor afterwards.
        let mut output = unsafe { Tensor::uninitialized::<f32>(&self.output_shape())? };
        let mut plain = output.try_as_plain_ram_mut()?;
        let values = plain.as_slice_mut::<f32>()?;
        let [od, oh, ow] = self.window.output;
        values.par_chunks_mut(oh * ow).with_min_len(min_items(oh * ow)).enumerate().for_each(|(ix, plane)| {
            let (channel, oz) = (ix / od, ix % od);
            plane.fill(bias[channel % self.channels]);
            self.scatter_plane(&columns[channel * taps..][..taps], oz, plane);
        });
        Ok(tvec!(output.into_tvalue()))
    }
}

impl TypedOp for DeconvScatter3d {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs.len() == 2);
        Ok(tvec!(f32::fact(self.output_shape())))
    }

    as_op!();
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use tract_onnx::tract_core::ops::cnn::{KernelFormat, PaddingSpec, PoolSpec};
    use tract_onnx::tract_core::ops::nn::DataFormat;

    /// One transposed convolution to try: input `shape` (N C D H W), output channels, and the
    /// kernel's spatial geometry.
    #[derive(Clone, Copy)]
    struct Case {
        shape: [usize; 5],
        out_channels: usize,
        kernel: [usize; 3],
        strides: [usize; 3],
        pads: [usize; 3],
        adjust: [usize; 3],
        dilations: [usize; 3],
    }

    /// A one-node model of `case`, with a random kernel and bias.
    fn deconv_model(case: &Case) -> TypedModel {
        let Case { shape, out_channels, kernel, strides, pads, adjust, dilations } = *case;
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact(shape)).unwrap();
        let weights = random(&[out_channels, shape[1], kernel[0], kernel[1], kernel[2]], 7);
        let w = model.add_const("w", weights).unwrap();
        let b = model.add_const("b", random(&[out_channels], 11)).unwrap();
        let spec = PoolSpec {
            data_format: DataFormat::NCHW,
            kernel_shape: kernel.into_iter().collect(),
            padding: PaddingSpec::Explicit(pads.into_iter().collect(), pads.into_iter().collect()),
            dilations: Some(dilations.into_iter().collect()),
            strides: Some(strides.into_iter().collect()),
            input_channels: shape[1],
            output_channels: out_channels,
        };
        let deconv = Deconv::new(spec, KernelFormat::OIHW, adjust.into_iter().collect(), 1);
        let y = model.wire_node("deconv", deconv, &[x, w, b]).unwrap();
        model.select_output_outlets(&y).unwrap();
        model
    }

    /// Deterministic values in [-1, 1).
    pub(crate) fn random(shape: &[usize], seed: u64) -> Tensor {
        let mut state = seed;
        let values: Vec<f32> = (0..shape.iter().product())
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect();
        Tensor::from_shape(shape, &values).unwrap()
    }

    fn run(model: TypedModel, input: &Tensor) -> Tensor {
        let plan = model.into_optimized().unwrap().into_runnable().unwrap();
        plan.run(tvec!(input.clone().into_tvalue())).unwrap().remove(0).into_tensor()
    }

    /// tract's own result and the rewritten graph's, which must be equal bit for bit.
    fn check(case: Case) {
        let model = deconv_model(&case);
        let mut rewritten = model.clone().into_decluttered().unwrap();
        rewrite_deconvolutions(&mut rewritten).unwrap();
        let scatters = rewritten.nodes().iter().filter(|n| n.op_is::<DeconvScatter3d>()).count();
        assert_eq!(scatters, 1, "the deconvolution was rewritten");
        let input = random(&case.shape, 3);
        let expected = run(model, &input);
        let got = run(rewritten, &input);
        assert_eq!(expected.shape(), got.shape());
        let (e, g) = (expected.to_plain_array_view::<f32>().unwrap(), got.to_plain_array_view::<f32>().unwrap());
        let differing = e.iter().zip(g.iter()).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
        assert_eq!(differing, 0, "{differing} of {} values differ from tract's", e.len());
    }

    #[test]
    fn equals_tract_for_deepbets_upsampling() {
        // kernel 3, stride 2, pads 1, output padding 1: the decoder blocks of LinkNet3d
        check(Case {
            shape: [1, 5, 6, 7, 8],
            out_channels: 4,
            kernel: [3, 3, 3],
            strides: [2, 2, 2],
            pads: [1, 1, 1],
            adjust: [1, 1, 1],
            dilations: [1, 1, 1],
        });
    }

    #[test]
    fn equals_tract_without_overlap_and_with_odd_geometry() {
        check(Case {
            shape: [1, 3, 4, 5, 6],
            out_channels: 6,
            kernel: [2, 2, 2],
            strides: [2, 2, 2],
            pads: [0, 0, 0],
            adjust: [0, 0, 0],
            dilations: [1, 1, 1],
        });
        check(Case {
            shape: [2, 2, 5, 3, 4],
            out_channels: 3,
            kernel: [3, 2, 4],
            strides: [1, 2, 3],
            pads: [2, 0, 1],
            adjust: [0, 1, 2],
            dilations: [2, 1, 1],
        });
    }

    #[test]
    fn leaves_other_deconvolutions_to_tract() {
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact([1, 2, 5, 5])).unwrap();
        let w = model.add_const("w", random(&[3, 2, 3, 3], 1)).unwrap();
        let b = model.add_const("b", random(&[3], 2)).unwrap();
        let spec = PoolSpec {
            data_format: DataFormat::NCHW,
            kernel_shape: tvec!(3, 3),
            padding: PaddingSpec::Valid,
            dilations: None,
            strides: None,
            input_channels: 2,
            output_channels: 3,
        };
        let y = model.wire_node("deconv", Deconv::new(spec, KernelFormat::OIHW, tvec!(0, 0), 1), &[x, w, b]).unwrap();
        model.select_output_outlets(&y).unwrap();
        rewrite_deconvolutions(&mut model).unwrap();
        assert!(model.nodes().iter().any(|n| n.op_is::<Deconv>()), "a 2D deconvolution stays tract's");
    }
}
