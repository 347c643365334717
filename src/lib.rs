//! medseg: open CT/MRI scans, view and segment them — in the browser through WebAssembly, or
//! natively through the `medseg` command-line tool.
//!
//! Layers only look down (see `docs/ARCHITECTURE.md`; `tests/layers.rs` checks it):
//! [`volume`] and [`labels`] (scans and label maps, their I/O and geometry) → `postprocess`,
//! [`metrics`], [`info`], [`mesh`] (pure functions over them) → [`engine`] (networks on the CPU or GPU)
//! → [`models`] (manifests, catalog, the one loader) → [`segment`] and [`medsam`] (pipelines)
//! → `web` (the JavaScript API, wasm32 only) and the CLI (`src/bin/medseg`).

pub mod engine;
pub mod info;
pub mod labels;
pub mod medsam;
pub mod mesh;
pub mod metrics;
pub mod models;
pub(crate) mod postprocess;
pub mod segment;
pub mod volume;
#[cfg(target_arch = "wasm32")]
pub mod web;

pub use engine::error::{LoadError, RunError};
pub use engine::gpu::{Accelerator, Backend};
pub use labels::{Label, LabelMap, LabelTable};
pub use models::Model;
pub use segment::Segmenter;
pub use volume::{read_nifti, read_nifti_pair, read_scan, ReadError, ReadLimits, Volume};
