//! The GPU backend: a wgpu device (WebGPU in the browser; Vulkan, Metal or DX12 natively),
//! WGSL kernels (one file per kernel family under `shaders/`), and an executor that runs tract's
//! decluttered graph with tensors resident on the GPU and the CPU for whatever no kernel covers.
//!
//! - `device`: the device, its limits, buffers (pooled, peak counted), dispatch and readback.
//! - `kernels`: the WGSL kernels, their parameter structs and op codes (Rust and WGSL checked
//!   against each other).
//! - `lower`: which kernels compute a tract node, with their parameters.
//! - `executor`: a prepared graph run node by node.
//!
//! [`Backend`] is the user's choice; [`Accelerator::choose`] applies it (Auto opens a GPU and
//! keeps it only if a self-check graph matches the CPU).

// wgpu's WebGPU types are not Send in wasm32, where networks run on one thread; Arc keeps one
// code path for both targets.
#![cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]

pub(crate) mod device;
pub(crate) mod executor;
#[cfg(test)]
mod kernel_tests;
pub(crate) mod kernels;
pub(crate) mod lower;

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use thiserror::Error;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_core::ops::nn::{DataFormat, Softmax};

pub use device::Gpu;

/// Why the GPU could not run something.
#[derive(Debug, Error)]
pub enum GpuError {
    /// No adapter, no device, a device error, lost or out of memory.
    #[error("GPU: {0}")]
    Device(String),
    /// A tensor larger than the device can bind.
    #[error("GPU: a buffer of {bytes} bytes exceeds the device's limit of {limit}")]
    TooLarge { bytes: u64, limit: u64 },
    /// The graph could not be prepared or a CPU node failed.
    #[error("GPU executor: {0}")]
    Graph(String),
}

/// Where networks run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Backend {
    /// The GPU when a hardware adapter is present and passes the self-check, else the CPU (a
    /// software adapter such as lavapipe or SwiftShader is slower than the CPU path).
    #[default]
    Auto,
    /// The GPU; an error when there is none or it fails the self-check.
    Gpu,
    /// tract on the CPU.
    Cpu,
}

impl FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> Result<Backend, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Backend::Auto),
            "gpu" => Ok(Backend::Gpu),
            "cpu" => Ok(Backend::Cpu),
            other => Err(format!("unknown backend {other:?}: expected auto, gpu or cpu")),
        }
    }
}

/// Largest relative difference the self-check accepts between GPU and CPU.
const SELF_CHECK_TOLERANCE: f32 = 1e-4;

/// A GPU in use by networks, with what happened to it: shared by every network of a session so
/// that one failure sends them all back to the CPU, with a note saying why.
pub struct Accelerator {
    /// The device.
    pub gpu: Arc<Gpu>,
    failed: AtomicBool,
    notes: Mutex<Vec<String>>,
}

impl Accelerator {
    /// Applies `backend`: `Ok((None, why))` for the CPU, `Ok((Some(accelerator), what))` for
    /// the GPU; an error only when the GPU was required and is missing or fails its self-check.
    pub async fn choose(backend: Backend) -> Result<(Option<Arc<Accelerator>>, String), GpuError> {
        if backend == Backend::Cpu {
            return Ok((None, "CPU (chosen)".into()));
        }
        let opened = match Gpu::open().await {
            Ok(Some(gpu)) => Ok(gpu),
            Ok(None) => Err(GpuError::Device("no GPU adapter is available".into())),
            Err(e) => Err(e),
        };
        let opened = match opened {
            Ok(gpu) if gpu.software && backend == Backend::Auto => Err(GpuError::Device(format!(
                "the only adapter, {}, is slower than the CPU path; choose the GPU backend to use it anyway",
                gpu.description
            ))),
            other => other,
        };
        let checked = match opened {
            Ok(gpu) => {
                let gpu = Arc::new(gpu);
                self_check(&gpu).await.map(|error| (gpu, error))
            }
            Err(e) => Err(e),
        };
        match (checked, backend) {
            (Ok((gpu, error)), _) => {
                let what = format!("GPU: {} (self-check max relative error {error:.1e})", gpu.description);
                Ok((
                    Some(Arc::new(Accelerator { gpu, failed: AtomicBool::new(false), notes: Mutex::new(vec![]) })),
                    what,
                ))
            }
            (Err(e), Backend::Auto) => Ok((None, format!("CPU ({e})"))),
            (Err(e), _) => Err(e),
        }
    }

    /// Whether networks should still try the GPU.
    pub fn usable(&self) -> bool {
        !self.failed.load(Ordering::Relaxed)
    }

    /// Records a GPU failure: later runs use the CPU.
    pub fn fail(&self, error: &GpuError) {
        self.failed.store(true, Ordering::Relaxed);
        self.note(format!("{error}; finished on the CPU"));
    }

    /// Adds a note for the user.
    pub fn note(&self, note: String) {
        let mut notes = self.notes.lock().expect("notes lock");
        if !notes.contains(&note) {
            notes.push(note);
        }
    }

    /// What happened so far (GPU failures, nodes that ran on the CPU).
    pub fn notes(&self) -> Vec<String> {
        self.notes.lock().expect("notes lock").clone()
    }
}

/// Runs a small graph (dilated 3D convolution, ReLU, matrix product, softmax) on the GPU and on
/// the CPU; returns the largest relative difference, or an error when it exceeds the tolerance.
pub(crate) async fn self_check(gpu: &Arc<Gpu>) -> Result<f32, GpuError> {
    let model = self_check_model().map_err(|e| GpuError::Graph(format!("self-check graph: {e:#}")))?;
    let input: Vec<f32> = (0..2 * 5 * 6 * 7).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect();
    let shape = vec![1, 2, 5, 6, 7];
    let cpu = model
        .clone()
        .into_runnable()
        .and_then(|plan| plan.run(tvec![Tensor::from_shape(&shape, &input)?.into_tvalue()]))
        .map_err(|e| GpuError::Graph(format!("self-check on the CPU: {e:#}")))?;
    let cache = Default::default();
    let plan = executor::GpuPlan::new(gpu.clone(), model, &cache)?;
    let out = plan.run(&[(input, shape)], &mut |_| {}).await?;
    let expected = lower::floats(&cpu[0]).map_err(|e| GpuError::Graph(format!("{e:#}")))?;
    let error = max_relative_error(&out[0].0, &expected);
    if error.is_nan() || error > SELF_CHECK_TOLERANCE {
        return Err(GpuError::Device(format!(
            "{} failed the self-check: max relative error {error:.1e} against the CPU (tolerance {SELF_CHECK_TOLERANCE:.0e})",
            gpu.description
        )));
    }
    Ok(error)
}

/// The largest |a − b| / |b| over the elements, where |b| is floored at 1 % of b's largest
/// magnitude (an output near zero that is a sum of large terms is judged at their scale);
/// ∞ when the lengths differ or a value is not a number.
pub(crate) fn max_relative_error(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return f32::INFINITY;
    }
    let floor = (b.iter().fold(0f32, |m, v| m.max(v.abs())) * 1e-2).max(f32::MIN_POSITIVE);
    a.iter().zip(b).map(|(x, y)| (x - y).abs() / y.abs().max(floor)).fold(0.0, |m, e| {
        if e.is_nan() {
            f32::INFINITY
        } else {
            m.max(e)
        }
    })
}

fn self_check_model() -> TractResult<TypedModel> {
    let mut model = TypedModel::default();
    let x = model.add_source("x", f32::fact([1, 2, 5, 6, 7]))?;
    let weights: Vec<f32> = (0..3 * 2 * 27).map(|i| ((i * 13 % 29) as f32 / 29.0) - 0.5).collect();
    let kernel = model.add_const("kernel", Tensor::from_shape(&[3, 2, 3, 3, 3], &weights)?)?;
    let bias = model.add_const("bias", Tensor::from_shape(&[3], &[0.1f32, -0.2, 0.3])?)?;
    let spec = PoolSpec {
        data_format: DataFormat::NCHW,
        kernel_shape: tvec![3, 3, 3],
        padding: PaddingSpec::Explicit(tvec![2, 2, 2], tvec![2, 2, 2]),
        dilations: Some(tvec![2, 2, 2]),
        strides: None,
        input_channels: 2,
        output_channels: 3,
    };
    let conv = Conv { pool_spec: spec, kernel_fmt: KernelFormat::OIHW, group: 1, q_params: None };
    let y = model.wire_node("conv", conv, &[x, kernel, bias])?;
    let zero = model.add_const("zero", Tensor::from_shape(&[1, 1, 1, 1, 1], &[0f32])?)?;
    let y = model.wire_node("relu", tract_onnx::tract_core::ops::math::max(), &[y[0], zero])?;
    let mixing = model
        .add_const("mixing", Tensor::from_shape(&[7, 4], &(0..28).map(|i| i as f32 / 28.0).collect::<Vec<_>>())?)?;
    let y = model.wire_node("product", EinSum::new("ncdhw,wk->ncdhk".parse()?, f32::datum_type()), &[y[0], mixing])?;
    let y = model.wire_node("softmax", Softmax::new(tvec![4], None, Default::default()), &y)?;
    model.select_output_outlets(&y)?;
    model.into_decluttered()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names_parse_and_a_wrong_one_says_what_is_expected() {
        assert_eq!("auto".parse::<Backend>(), Ok(Backend::Auto));
        assert_eq!("GPU".parse::<Backend>(), Ok(Backend::Gpu));
        assert_eq!("cpu".parse::<Backend>(), Ok(Backend::Cpu));
        assert_eq!("quantum".parse::<Backend>(), Err("unknown backend \"quantum\": expected auto, gpu or cpu".into()));
    }

    #[test]
    fn choosing_the_cpu_opens_no_device() {
        let (accelerator, why) = pollster::block_on(Accelerator::choose(Backend::Cpu)).unwrap();
        assert!(accelerator.is_none());
        assert_eq!(why, "CPU (chosen)");
    }

    #[test]
    fn relative_error_is_judged_at_the_scale_of_the_tensor() {
        assert_eq!(max_relative_error(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
        assert!((max_relative_error(&[1.1, 0.0], &[1.0, 0.0]) - 0.1).abs() < 1e-6);
        // 1e-3 off where the reference is 0 but the tensor reaches 10: 1e-3 / (1 % of 10).
        assert!((max_relative_error(&[1e-3, 10.0], &[0.0, 10.0]) - 1e-2).abs() < 1e-6);
        assert_eq!(max_relative_error(&[f32::NAN], &[1.0]), f32::INFINITY);
        assert_eq!(max_relative_error(&[1.0], &[1.0, 2.0]), f32::INFINITY);
    }
}
