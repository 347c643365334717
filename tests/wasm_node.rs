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
