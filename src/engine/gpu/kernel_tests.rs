//! Every WGSL kernel family against tract's CPU result on random shapes (odd sizes, strides,
//! dilations, groups, broadcasting): max relative error ≤ 1e-4, and every node must have run
//! on the GPU. Runs on whatever adapter wgpu finds (lavapipe on CI machines); without one the
//! tests say so and pass, unless MEDSEG_REQUIRE_GPU=1 (set by `make test`).

use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::array::{Gather, MultiBroadcastTo, Pad, PadMode, Slice, TypedConcat};
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::change_axes::AxisOp;
use tract_onnx::tract_core::ops::cnn::{Conv, Deconv, KernelFormat, MaxPool, PaddingSpec, PoolSpec};
use tract_onnx::tract_core::ops::downsample::Downsample;
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_core::ops::element_wise::ElementWiseOp;
use tract_onnx::tract_core::ops::logic::{self, Iff};
use tract_onnx::tract_core::ops::math;
use tract_onnx::tract_core::ops::nn::{self, DataFormat, Reduce, Reducer, RmsNorm, Softmax, SoftmaxKind};

use crate::engine::gpu::executor::GpuPlan;
use crate::engine::gpu::lower::floats;
use crate::engine::gpu::{max_relative_error, self_check, Accelerator, Backend, Gpu};

/// The tolerance the issue sets for f32 kernels.
const TOLERANCE: f32 = 1e-4;

/// The GPU, self-checked, or `None` (with a message) when wgpu finds no adapter. With
/// `MEDSEG_REQUIRE_GPU=1` (`make test`, which installs lavapipe) a missing adapter fails instead.
fn gpu() -> Option<Arc<Gpu>> {
    match pollster::block_on(Accelerator::choose(Backend::Gpu)) {
        Ok((accelerator, what)) => {
            eprintln!("backend: {what}");
            accelerator.map(|a| a.gpu.clone())
        }
        Err(e) if std::env::var("MEDSEG_REQUIRE_GPU").as_deref() == Ok("1") => {
            panic!("MEDSEG_REQUIRE_GPU=1 but {e} (install mesa-vulkan-drivers for lavapipe)")
        }
        Err(e) => {
            eprintln!("SKIPPED: {e} (install mesa-vulkan-drivers for lavapipe)");
            None
        }
    }
}

/// Deterministic values in [-1, 1).
fn random(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Builds a graph with one source per shape, runs it decluttered on the CPU and on the GPU, and
/// compares every output.
fn check(
    name: &str,
    shapes: &[&[usize]],
    build: impl FnOnce(&mut TypedModel, &[OutletId]) -> TractResult<TVec<OutletId>>,
) {
    let Some(gpu) = gpu() else { return };
    let mut model = TypedModel::default();
    let sources: Vec<OutletId> =
        shapes.iter().enumerate().map(|(i, s)| model.add_source(format!("x{i}"), f32::fact(*s)).unwrap()).collect();
    let outputs = build(&mut model, &sources).unwrap();
    model.select_output_outlets(&outputs).unwrap();
    let model = model.into_decluttered().unwrap();
    let inputs: Vec<(Vec<f32>, Vec<usize>)> =
        shapes.iter().enumerate().map(|(i, s)| (random(s.iter().product(), i as u64 + 7), s.to_vec())).collect();
    let tensors: TVec<TValue> = inputs.iter().map(|(v, s)| Tensor::from_shape(s, v).unwrap().into_tvalue()).collect();
    let expected = model.clone().into_runnable().unwrap().run(tensors).unwrap();
    let plan = GpuPlan::new(gpu, model, &Default::default()).unwrap();
    assert!(plan.cpu_nodes.is_empty(), "{name}: nodes ran on the CPU: {:?}", plan.cpu_nodes);
    let got = pollster::block_on(plan.run(&inputs, &mut |_| {})).unwrap();
    for (i, (values, shape)) in got.iter().enumerate() {
        let want = expected[i].cast_to::<f32>().unwrap();
        assert_eq!(shape.as_slice(), want.shape(), "{name}: output {i} shape");
        let want = floats(&want).unwrap();
        let error = max_relative_error(values, &want);
        eprintln!("{name}: output {i} {shape:?}, max relative error {error:.2e}");
        assert!(error <= TOLERANCE, "{name}: max relative error {error:e} > {TOLERANCE:e}");
    }
}

fn spec(
    kernel: &[usize],
    pads: (&[usize], &[usize]),
    strides: &[usize],
    dilations: &[usize],
    c: (usize, usize),
) -> PoolSpec {
    PoolSpec {
        data_format: DataFormat::NCHW,
        kernel_shape: kernel.into(),
        padding: PaddingSpec::Explicit(pads.0.into(), pads.1.into()),
        dilations: Some(dilations.into()),
        strides: Some(strides.into()),
        input_channels: c.0,
        output_channels: c.1,
    }
}

fn constant(model: &mut TypedModel, name: &str, shape: &[usize], seed: u64) -> TractResult<OutletId> {
    model.add_const(name, Tensor::from_shape(shape, &random(shape.iter().product(), seed))?)
}

/// A convolution of `input` into `c_out` channels; `geometry` is (kernel, padding before and
/// after, strides, dilations).
type Geometry<'a> = (&'a [usize], (&'a [usize], &'a [usize]), &'a [usize], &'a [usize]);

fn conv_case(name: &str, input: &[usize], c_out: usize, group: usize, geometry: Geometry) {
    let (kernel, pads, strides, dilations) = geometry;
    let c_in = input[1];
    check(name, &[input], |m, x| {
        let mut kshape = vec![c_out, c_in / group];
        kshape.extend_from_slice(kernel);
        let k = constant(m, "kernel", &kshape, 1)?;
        let b = constant(m, "bias", &[c_out], 2)?;
        let op = Conv {
            pool_spec: spec(kernel, pads, strides, dilations, (c_in, c_out)),
            kernel_fmt: KernelFormat::OIHW,
            group,
            q_params: None,
        };
        m.wire_node("conv", op, &[x[0], k, b])
    });
}

#[test]
fn convolutions() {
    conv_case("conv1d stride 2", &[2, 3, 17], 5, 1, (&[3], (&[1], &[2]), &[2], &[1]));
    conv_case("conv2d odd, dilation 2", &[1, 3, 13, 11], 6, 1, (&[3, 3], (&[2, 2], &[2, 2]), &[1, 1], &[2, 2]));
    conv_case("conv2d grouped, stride 2", &[1, 4, 9, 10], 6, 2, (&[3, 2], (&[1, 0], &[1, 1]), &[2, 2], &[1, 1]));
    conv_case("conv2d depthwise", &[1, 5, 8, 7], 5, 5, (&[3, 3], (&[1, 1], &[1, 1]), &[1, 1], &[1, 1]));
    conv_case(
        "conv3d dilation 3, 7 outputs",
        &[1, 3, 9, 8, 7],
        7,
        1,
        (&[3, 3, 3], (&[3, 3, 3], &[3, 3, 3]), &[1, 1, 1], &[3, 3, 3]),
    );
    conv_case(
        "conv2d without batch axis, 9 outputs",
        &[1, 4, 12, 10],
        9,
        1,
        (&[3, 3], (&[1, 1], &[1, 1]), &[1, 1], &[1, 1]),
    );
    conv_case(
        "conv3d stride 2 no padding",
        &[1, 2, 9, 9, 9],
        4,
        1,
        (&[2, 3, 2], (&[0, 0, 0], &[0, 0, 0]), &[2, 2, 2], &[1, 1, 1]),
    );
}

fn deconv_case(name: &str, input: &[usize], c_out: usize, kernel: &[usize], pads: &[usize], strides: &[usize]) {
    let c_in = input[1];
    check(name, &[input], |m, x| {
        let mut kshape = vec![c_out, c_in];
        kshape.extend_from_slice(kernel);
        let k = constant(m, "kernel", &kshape, 3)?;
        let b = constant(m, "bias", &[c_out], 4)?;
        let ones = vec![1; kernel.len()];
        let op = Deconv {
            pool_spec: spec(kernel, (pads, pads), strides, &ones, (c_in, c_out)),
            kernel_format: KernelFormat::OIHW,
            adjustments: vec![0; kernel.len()].into(),
            group: 1,
        };
        m.wire_node("deconv", op, &[x[0], k, b])
    });
}

#[test]
fn transposed_convolutions() {
    deconv_case("deconv2d stride 2 kernel 2", &[1, 3, 5, 6], 4, &[2, 2], &[0, 0], &[2, 2]);
    deconv_case("deconv2d stride 2 kernel 3 pad 1", &[1, 2, 5, 4], 3, &[3, 3], &[1, 1], &[2, 2]);
    deconv_case("deconv3d stride 2 kernel 2", &[1, 4, 3, 4, 5], 5, &[2, 2, 2], &[0, 0, 0], &[2, 2, 2]);
}

fn einsum_case(name: &str, expr: &str, a: &[usize], b: &[usize]) {
    check(name, &[a, b], |m, x| m.wire_node("einsum", EinSum::new(expr.parse()?, f32::datum_type()), &[x[0], x[1]]));
}

#[test]
fn matrix_products() {
    einsum_case("matmul", "mk,kn->mn", &[13, 37], &[37, 11]);
    einsum_case("batched matmul", "bmk,bkn->bmn", &[3, 9, 65], &[3, 65, 7]);
    einsum_case("broadcast batch", "bmk,kn->bmn", &[4, 5, 6], &[6, 3]);
    einsum_case("transposed operands", "bkm,bnk->bmn", &[2, 19, 5], &[2, 6, 19]);
    einsum_case("outer product", "m,n->mn", &[7], &[5]);
    einsum_case("channels (1x1 conv)", "ncdhw,kc->nkdhw", &[1, 6, 3, 4, 5], &[4, 6]);
    einsum_case("batch of one summed away", "nihw,oi->ohw", &[1, 3, 17, 18], &[20, 3]);
    einsum_case("two contracted axes", "ambk,bkn->amn", &[5, 9, 4, 8], &[4, 8, 24]);
    einsum_case("tiled, rows from B", "ncx,kc->nkx", &[2, 37, 70], &[33, 37]);
}

#[test]
fn element_wise() {
    let unary: Vec<(&str, ElementWiseOp)> = vec![
        ("exp", math::exp()),
        ("abs", math::abs()),
        ("neg", math::neg()),
        ("square", math::square()),
        ("recip", math::recip()),
        ("tanh", math::tanh()),
        ("erf", math::erf()),
        ("cos", math::cos()),
        ("sin", math::sin()),
        ("floor", math::floor()),
        ("sigmoid", nn::sigmoid()),
        ("gelu", nn::gelu_exact::gelu_exact()),
        ("leaky relu", ElementWiseOp(Box::new(nn::LeakyRelu { alpha: 0.2 }), None)),
    ];
    for (name, op) in unary {
        check(name, &[&[3, 7, 5]], |m, x| m.wire_node(name, op, &[x[0]]));
    }
    for (name, op) in [("sqrt", math::sqrt()), ("rsqrt", math::rsqrt()), ("ln", math::ln())] {
        check(name, &[&[2, 9]], |m, x| {
            let abs = m.wire_node("abs", math::abs(), &[x[0]])?;
            let eps = m.add_const("eps", Tensor::from_shape(&[1, 1], &[0.05f32])?)?;
            let positive = m.wire_node("positive", math::add(), &[abs[0], eps])?;
            m.wire_node(name, op, &positive)
        });
    }
    let binary: Vec<(&str, TypedBinOp)> = vec![
        ("add", math::add()),
        ("sub", math::sub()),
        ("mul", math::mul()),
        ("div", math::div()),
        ("max", math::max()),
        ("min", math::min()),
    ];
    for (name, op) in binary {
        check(name, &[&[2, 1, 5, 7], &[1, 3, 5, 1]], |m, x| m.wire_node(name, op, &[x[0], x[1]]));
    }
    check("less-than then select", &[&[4, 6], &[1, 6], &[4, 1]], |m, x| {
        let zero = m.add_const("zero", Tensor::from_shape(&[1, 1], &[0f32])?)?;
        let less = m.wire_node("less", TypedBinOp(logic::comp_lt(), None), &[x[0], zero])?;
        m.wire_node("iff", Iff, &[less[0], x[1], x[2]])
    });
}

#[test]
fn reductions_and_normalisations() {
    for (name, reducer) in [
        ("sum", Reducer::Sum),
        ("max", Reducer::Max),
        ("min", Reducer::Min),
        ("prod", Reducer::Prod),
        ("mean of squares", Reducer::MeanOfSquares),
    ] {
        check(name, &[&[2, 5, 3, 7]], |m, x| m.wire_node(name, Reduce::new(tvec![1, 3], reducer), &[x[0]]));
    }
    check("softmax", &[&[2, 9, 5]], |m, x| {
        m.wire_node("softmax", Softmax::new(tvec![1], None, SoftmaxKind::Softmax), &[x[0]])
    });
    check("log softmax", &[&[3, 17]], |m, x| {
        m.wire_node("log softmax", Softmax::new(tvec![1], None, SoftmaxKind::LogSoftmax), &[x[0]])
    });
    check("rms norm", &[&[4, 6, 33]], |m, x| {
        m.wire_node("rms norm", RmsNorm { axis: 2, eps: Arc::new(tensor0(1e-5f32)) }, &[x[0]])
    });
}

#[test]
fn max_pooling() {
    check("max pool 2d", &[&[1, 3, 9, 8]], |m, x| {
        let op = MaxPool {
            pool_spec: spec(&[3, 3], (&[1, 1], &[1, 1]), &[2, 2], &[1, 1], (3, 3)),
            with_index_outputs: None,
        };
        m.wire_node("pool", op, &[x[0]])
    });
    check("max pool 3d", &[&[1, 2, 7, 6, 5]], |m, x| {
        let op = MaxPool {
            pool_spec: spec(&[2, 2, 2], (&[0, 0, 0], &[0, 0, 0]), &[2, 2, 2], &[1, 1, 1], (2, 2)),
            with_index_outputs: None,
        };
        m.wire_node("pool", op, &[x[0]])
    });
}

#[test]
fn data_movement() {
    check("move axis", &[&[2, 3, 4, 5]], |m, x| m.wire_node("move", AxisOp::Move(1, 3), &[x[0]]));
    check("slice", &[&[4, 9, 3]], |m, x| m.wire_node("slice", Slice::new(1, 2, 7), &[x[0]]));
    check("pad", &[&[2, 5, 3]], |m, x| {
        let op = Pad { pads: vec![(0, 0), (2, 1), (1, 3)], mode: PadMode::Constant(Arc::new(tensor0(1.5f32))) };
        m.wire_node("pad", op, &[x[0]])
    });
    check("concat", &[&[2, 3, 4], &[2, 5, 4], &[2, 1, 4]], |m, x| {
        m.wire_node("concat", TypedConcat { axis: 1 }, &[x[0], x[1], x[2]])
    });
    for (name, indices) in [("gather a range", tensor1(&[1i64, 3, 5, 7])), ("gather one index", tensor0(-2i64))] {
        check(name, &[&[4, 9, 3]], |m, x| {
            let indices = m.add_const("indices", indices)?;
            m.wire_node(name, Gather { axis: 1, output_type: None }, &[x[0], indices])
        });
    }
    check("downsample", &[&[1, 2, 11, 6]], |m, x| {
        m.wire_node("downsample", Downsample { axis: 2, stride: 2, modulo: 1 }, &[x[0]])
    });
    check("broadcast", &[&[3, 1, 5]], |m, x| {
        m.wire_node("broadcast", MultiBroadcastTo { shape: [3, 4, 5].into() }, &[x[0]])
    });
}

#[test]
fn self_check_passes() {
    let Some(gpu) = gpu() else { return };
    let error = pollster::block_on(self_check(&gpu)).unwrap();
    eprintln!(
        "self-check on {} (largest binding {} MiB): max relative error {error:.2e}",
        gpu.description,
        gpu.max_binding_bytes >> 20
    );
}
