//! wasm32 under node: the reader decodes a real `.nii.gz`. Run with
//! `cargo test --target wasm32-unknown-unknown --test wasm_node` (runner: wasm-bindgen-test-runner).
#![cfg(target_arch = "wasm32")]

use medseg::volume::{read_nifti, ReadLimits};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen(module = "fs")]
extern "C" {
    #[wasm_bindgen(js_name = readFileSync, catch)]
    fn read_file_sync(path: &str) -> Result<Vec<u8>, JsValue>;
}

fn shared(relative: &str) -> Option<Vec<u8>> {
    let path = format!("{}/../shared/{relative}", env!("CARGO_MANIFEST_DIR"));
    match read_file_sync(&path) {
        Ok(bytes) => Some(bytes),
        Err(_) if option_env!("MEDSEG_REQUIRE_SHARED") != Some("1") => {
            wasm_bindgen_test::console_log!("SKIPPED: {path} is absent");
            None
        }
        Err(e) => panic!("{path} is missing and MEDSEG_REQUIRE_SHARED=1: {e:?}"),
    }
}

#[wasm_bindgen_test]
fn decodes_a_real_ct_in_wasm() {
    let Some(bytes) = shared("data/ct/example_ct.nii.gz") else { return };
    let ct = read_nifti(&bytes, ReadLimits::default()).expect("example_ct opens in wasm");
    assert_eq!(ct.dims, vec![122, 101, 112]);
    assert_eq!(ct.datatype.name(), "int32");
    assert_eq!(ct.geometry.orientation(), "RAS");
    assert_eq!(ct.value_range(), Some((-1207.0, 3382.0)));
}

#[wasm_bindgen_test]
fn decodes_a_big_endian_lia_brain_in_wasm() {
    let Some(bytes) = shared("data/nifti-cases/avg152T1_RL_nifti.nii.gz") else { return };
    let v = read_nifti(&bytes, ReadLimits::default()).unwrap();
    assert_eq!(v.dims, vec![91, 109, 91]);
    assert_eq!(v.value_range(), Some((0.0, 255.0)));
    let Some(bytes) = shared("data/brain/norm.nii.gz") else { return };
    let norm = read_nifti(&bytes, ReadLimits::default()).unwrap();
    assert_eq!(norm.geometry.orientation(), "LIA");
    assert_eq!(norm.value_range(), Some((0.0, 125.0)));
}

#[wasm_bindgen_test]
fn bad_input_is_an_error_in_wasm_too() {
    assert!(read_nifti(b"not a scan at all", ReadLimits::default()).is_err());
}

/// 3 MB of junk after a header claiming a 2 GiB float32 scan: once a `capacity overflow` panic
/// in wasm; now the page's budget (512 MiB) refuses it before anything is allocated.
#[wasm_bindgen_test]
fn junk_claiming_two_gib_is_refused_by_the_page_budget() {
    let mut nii = vec![0u8; 352];
    nii[0..4].copy_from_slice(&348i32.to_le_bytes());
    for (i, d) in [3i16, 1024, 1024, 512, 1, 1, 1, 1].iter().enumerate() {
        nii[40 + 2 * i..42 + 2 * i].copy_from_slice(&d.to_le_bytes());
    }
    nii[70..72].copy_from_slice(&16i16.to_le_bytes()); // float32
    nii[72..74].copy_from_slice(&32i16.to_le_bytes());
    nii[76..80].copy_from_slice(&1f32.to_le_bytes());
    nii[108..112].copy_from_slice(&352f32.to_le_bytes());
    nii[344..348].copy_from_slice(b"n+1\0");
    let mut state = 1u32;
    nii.extend((0..3 << 20).map(|_| {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (state >> 24) as u8
    }));
    let message = read_nifti(&nii, ReadLimits::default()).unwrap_err().to_string();
    assert!(message.contains("2.0 GiB, more than the memory budget of 512.0 MiB"), "{message}");
}
