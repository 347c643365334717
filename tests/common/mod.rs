//! Helpers shared by the integration tests: locating ../shared data.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::PathBuf;

/// The `shared/` folder beside the repository (real scans and models, never committed).
pub fn shared_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

/// Path of a file under `../shared`, or `None` (with a message) when it is absent.
/// With `MEDSEG_REQUIRE_SHARED=1` (CI) an absent file fails the test instead.
pub fn shared_file(relative: &str) -> Option<PathBuf> {
    let path = shared_dir().join(relative);
    if path.exists() {
        return Some(path);
    }
    if std::env::var("MEDSEG_REQUIRE_SHARED").as_deref() == Ok("1") {
        panic!("{} is missing and MEDSEG_REQUIRE_SHARED=1", path.display());
    }
    eprintln!("SKIPPED: {} is absent (set up ../shared to run this test)", path.display());
    None
}

/// Reads a file under `../shared`; `None` when absent (see [`shared_file`]).
pub fn read_shared(relative: &str) -> Option<Vec<u8>> {
    shared_file(relative).map(|p| std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display())))
}

/// Geometry of a small synthetic scan: sform (code 1) with `spacing` mm voxels, RAS, units mm.
pub fn synthetic_geometry(spacing: f32) -> medseg::volume::HeaderGeometry {
    medseg::volume::HeaderGeometry {
        pixdim: [1.0, spacing, spacing, spacing, 0.0, 0.0, 0.0, 0.0],
        qform_code: 0,
        sform_code: 1,
        quatern: [0.0; 3],
        qoffset: [0.0; 3],
        srow: [[spacing, 0.0, 0.0, -4.0], [0.0, spacing, 0.0, -3.0], [0.0, 0.0, spacing, -2.0]],
        xyzt_units: 2,
    }
}

/// The GPU, self-checked, or `None` (with a message) when wgpu finds no adapter. With
/// `MEDSEG_REQUIRE_GPU=1` (`make test`, which installs lavapipe) a missing adapter fails instead.
pub fn accelerator() -> Option<std::sync::Arc<medseg::engine::gpu::Accelerator>> {
    use medseg::engine::gpu::{Accelerator, Backend};
    match pollster::block_on(Accelerator::choose(Backend::Gpu)) {
        Ok((accelerator, what)) => {
            eprintln!("backend: {what}");
            accelerator
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
