//! medseg's integration tests, one binary (tract and wgpu are linked once). Two tests stay
//! separate: `bounded_memory.rs` installs its own global allocator, and `wasm_node.rs` runs on
//! the wasm32 target.

#[path = "../common/mod.rs"]
mod common;

mod bad_input;
mod brain_models;
mod cli;
mod cohorts;
mod deepbet;
mod formats_cli;
mod formats_dicom;
mod formats_mgh;
mod formats_nrrd;
mod fuzz_regressions;
mod gpu_models;
mod hardening;
mod hdbet;
mod label_roundtrip;
mod layers;
mod medsam;
mod meshes;
mod meshnet_parity;
mod nibabel_reference;
