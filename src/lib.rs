//! medseg: open CT/MRI scans (NIfTI-1), view and segment them — in the browser through
//! WebAssembly, or natively through the `medseg` command-line tool.
//!
//! Data flows one way: bytes → [`volume::Volume`] → … → [`labels::LabelMap`] → bytes.
//!
//! - [`volume`]: reading NIfTI bytes, typed voxels, geometry (affine, orientation, units),
//!   writing label maps.
//! - [`labels`]: label maps and their JSON sidecar of names and colours.
//! - [`info`]: the summary of a scan that `medseg info` and the page show.
//! - [`gpu`]: the WebGPU/wgpu backend: device, WGSL kernels, graph executor with CPU fallback.
//! - [`medsam`]: box-prompted segmentation (LiteMedSAM) of slices, volumes and pictures.
//! - `web`, `web_medsam` (wasm32 only): the JavaScript API.

pub mod gpu;
pub mod infer;
pub mod info;
pub mod labels;
pub mod medsam;
pub mod metrics;
pub mod models;
pub mod postprocess;
pub mod volume;
#[cfg(target_arch = "wasm32")]
pub mod web;
#[cfg(target_arch = "wasm32")]
pub mod web_medsam;

pub use labels::{Label, LabelMap, LabelTable};
pub use volume::{read_nifti, read_nifti_pair, ReadError, ReadLimits, Volume};
