//! Crafted inputs from the outside review (issue "hard against bad files, bad models and low
//! memory"): each row of its table is a test here or beside the code it concerns, and each gets a
//! clear message, never a panic, a hang or an allocation a header merely claims.
//!
//! Rows tested elsewhere: impossible manifest sizes (patch or locator 0 or 100000³) in
//! `segment::plan`'s unit tests; manifest paths that leave the model's folder in
//! `models::manifest`'s; catalogs without files, `fetch` paths leaving `models/`, `fetch` with no
//! names, non-finite MedSAM boxes and unknown options such as `--threads` in `cli.rs`; a picture
//! too wide for NIfTI-1 in `bad_input.rs`; memory while reading gzip bombs in `bounded_memory.rs`.

use std::io::Write;
use std::path::Path;

use medseg::engine::network::Network;
use medseg::engine::onnx_graph::{float_value, model};
use medseg::engine::streaming::Streamed;
use medseg::models::tfjs;
use tract_onnx::pb::{attribute_proto::AttributeType, tensor_proto::DataType, AttributeProto, GraphProto, NodeProto};

use super::cli::{assert_fails, medseg, stdout, TempDir};

/// A single-file NIfTI-1: `dims` of datatype `code` (`bitpix` bits), isotropic `spacing` mm,
/// description `descrip`, then `data`.
pub(crate) fn nifti_bytes(
    dims: &[i16],
    (code, bitpix): (i16, i16),
    spacing: f32,
    descrip: &[u8],
    data: &[u8],
) -> Vec<u8> {
    let mut b = vec![0u8; 352];
    b[0..4].copy_from_slice(&348i32.to_le_bytes());
    let mut dim = [1i16; 8];
    dim[0] = dims.len() as i16;
    dim[1..=dims.len()].copy_from_slice(dims);
    for (i, d) in dim.iter().enumerate() {
        b[40 + 2 * i..42 + 2 * i].copy_from_slice(&d.to_le_bytes());
    }
    b[70..72].copy_from_slice(&code.to_le_bytes());
    b[72..74].copy_from_slice(&bitpix.to_le_bytes());
    b[76..80].copy_from_slice(&1f32.to_le_bytes());
    for i in 1..4 {
        b[76 + 4 * i..80 + 4 * i].copy_from_slice(&spacing.to_le_bytes());
    }
    b[108..112].copy_from_slice(&352f32.to_le_bytes());
    b[123] = 2; // mm
    b[148..148 + descrip.len()].copy_from_slice(descrip);
    b[344..348].copy_from_slice(b"n+1\0");
    b.extend_from_slice(data);
    b
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_string()
}

const UINT8: (i16, i16) = (2, 8);
const INT16: (i16, i16) = (4, 16);

#[test]
fn a_tfjs_weight_shape_whose_size_overflows_is_an_invalid_model() {
    let model_json = r#"{"format":"layers-model","modelTopology":{"model_config":{"config":{"layers":[]}}},
        "weightsManifest":[{"paths":["w.bin"],"weights":[{"name":"c/kernel","shape":[4611686018427387904,8],"dtype":"float32"}]}]}"#;
    let err = tfjs::to_onnx(model_json, &[vec![0u8; 16]]).unwrap_err().to_string();
    assert!(err.starts_with("not a usable model") && err.contains("impossibly large"), "{err}");
}

#[test]
fn a_3d_conv_with_one_dilation_value_is_not_streamed_and_does_not_panic() {
    let ints = |name: &str, values: Vec<i64>| AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: values,
        ..Default::default()
    };
    let weight = tract_onnx::pb::TensorProto {
        name: "w".into(),
        dims: vec![1, 1, 3, 3, 3],
        data_type: DataType::Float as i32,
        float_data: vec![0.0; 27],
        ..Default::default()
    };
    let conv = NodeProto {
        op_type: "Conv".into(),
        input: vec!["input".into(), "w".into()],
        output: vec!["logits".into()],
        attribute: vec![ints("dilations", vec![1]), ints("kernel_shape", vec![3, 3, 3]), ints("pads", vec![1; 6])],
        ..Default::default()
    };
    let graph = GraphProto {
        node: vec![conv],
        initializer: vec![weight],
        input: vec![float_value("input", Some(&[1, 1, 8, 8, 8]))],
        output: vec![float_value("logits", None)],
        ..Default::default()
    };
    let proto = model(graph, "crafted");
    assert!(Streamed::from_proto(&proto).is_none(), "a malformed conv must not be streamed");
    if let Err(e) = Network::from_proto(&proto) {
        assert!(e.to_string().starts_with("not a usable model"), "{e}");
    }
}

#[test]
fn a_model_file_larger_than_its_manifest_declares_is_not_read() {
    let dir = TempDir::new("declared");
    let catalog = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/models/catalog.json")).unwrap();
    let catalog: serde_json::Value = serde_json::from_str(&catalog).unwrap();
    let mut manifest = catalog["models"].as_array().unwrap().iter().find(|m| m["name"] == "deepbet").unwrap().clone();
    let file = &mut manifest["files"][0];
    file["bytes"] = 10.into();
    let name = file["path"].as_str().unwrap().to_string();
    std::fs::write(dir.0.join(&name), vec![0u8; 4096]).unwrap();
    let spec = write(&dir.0, "manifest.json", manifest.to_string().as_bytes());
    let scan = write(&dir.0, "scan.nii", &nifti_bytes(&[4, 4, 4], UINT8, 1.0, b"", &[0; 64]));
    let out = dir.0.join("out.nii.gz");
    let o = medseg(&["segment", "--model", &spec, &scan, "-o", out.to_str().unwrap()], None);
    assert_fails(&o, 1, "is larger than the 10 bytes its manifest declares");
}

#[test]
fn a_gzip_bomb_is_refused_by_the_memory_budget_before_it_is_inflated() {
    let dir = TempDir::new("bomb");
    // The header claims 2048 × 1024 × 1024 uint8 (2 GiB; 8 GiB as float32); 1 MiB of it follows.
    let bomb = write(&dir.0, "bomb.nii.gz", &gzip(&nifti_bytes(&[2048, 1024, 1024], UINT8, 1.0, b"", &[0; 1 << 20])));
    assert_fails(
        &medseg(&["info", &bomb], None),
        1,
        "the scan's 2048×1024×1024 voxels of uint8 as float32 would need 8.0 GiB, more than the memory budget of 2.0 GiB; raise the budget with `medseg --max-memory SIZE`",
    );
    let i16_bomb = write(&dir.0, "i16.nii.gz", &gzip(&nifti_bytes(&[1024, 1024, 1024], INT16, 1.0, b"", &[0; 4096])));
    assert_fails(&medseg(&["segment", "--model", "deepbet", &i16_bomb, "-o", "x.nii.gz"], None), 1, "4.0 GiB");
    // With a larger budget the reader goes on, and finds the data missing.
    assert_fails(
        &medseg(&["--max-memory", "16G", "info", &bomb], None),
        1,
        "the voxel data is shorter than the header says",
    );
    assert_fails(&medseg(&["info", "--max-memory", "lots", &bomb], None), 2, "not a memory size");
}

#[test]
fn medsam_refuses_a_slice_too_large_for_the_budget() {
    let dir = TempDir::new("wide");
    let side = 16384i16;
    let data = vec![0u8; side as usize * side as usize];
    let scan = write(&dir.0, "wide.nii.gz", &gzip(&nifti_bytes(&[side, side, 1], UINT8, 1.0, b"", &data)));
    let out = dir.0.join("mask.nii.gz");
    let o = medseg(&["medsam", &scan, "--box", "10,10,100,100", "-o", out.to_str().unwrap()], None);
    assert_fails(&o, 1, "a 16384×16384 slice for MedSAM would need 3.0 GiB, more than the memory budget of 2.0 GiB");
    assert!(!out.exists());
}

#[test]
fn eval_with_huge_spacing_finishes_with_the_exact_distance() {
    let dir = TempDir::new("eval");
    let map = |at: usize| {
        let mut values = vec![0u16; 64];
        values[at] = 1;
        medseg::volume::write_label_map(
            &values,
            [4, 4, 4],
            &crate::common::synthetic_geometry(1e5),
            medseg::volume::NiftiVersion::Auto,
        )
    };
    let (a, b) = (write(&dir.0, "a.nii.gz", &map(0)), write(&dir.0, "b.nii.gz", &map(63)));
    let started = std::time::Instant::now();
    let o = medseg(&["eval", &a, &b], None);
    assert!(o.status.success(), "{o:?}");
    // Corner to corner: √27 × 1e5 mm.
    assert!(stdout(&o).contains("519615.24"), "{}", stdout(&o));
    assert!(started.elapsed().as_secs() < 60, "eval took {:?}", started.elapsed());
}

#[test]
fn eval_refuses_label_maps_on_different_grids() {
    let dir = TempDir::new("grids");
    let values = vec![1u16; 8];
    let a = medseg::volume::write_label_map(
        &values,
        [2, 2, 2],
        &crate::common::synthetic_geometry(1.0),
        medseg::volume::NiftiVersion::Auto,
    );
    let b = medseg::volume::write_label_map(
        &values,
        [2, 2, 2],
        &crate::common::synthetic_geometry(2.0),
        medseg::volume::NiftiVersion::Auto,
    );
    let (a, b) = (write(&dir.0, "a.nii.gz", &a), write(&dir.0, "b.nii.gz", &b));
    assert_fails(&medseg(&["eval", &a, &b], None), 1, "affines differ");
}

#[test]
fn info_shows_terminal_escape_sequences_escaped() {
    let dir = TempDir::new("escape");
    let scan = write(&dir.0, "esc.nii", &nifti_bytes(&[2, 2, 2], UINT8, 1.0, b"\x1b[2J\x1b]0;owned\x07red", &[0; 8]));
    let o = medseg(&["info", &scan], None);
    assert!(o.status.success(), "{o:?}");
    assert!(!o.stdout.contains(&0x1b) && !o.stdout.contains(&0x07), "raw control bytes printed");
    assert!(stdout(&o).contains(r"description  \u{1b}[2J\u{1b}]0;owned\u{7}red"), "{}", stdout(&o));
}

#[test]
fn the_catalog_comes_from_the_installation_not_the_current_directory() {
    let dir = TempDir::new("cwd");
    std::fs::create_dir_all(dir.0.join("models")).unwrap();
    std::fs::write(dir.0.join("models/catalog.json"), r#"{"brainchop_commit":"x","models":[]}"#).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_medseg"))
        .args(["models", "list"])
        .env_remove("MEDSEG_MODELS")
        .current_dir(&dir.0)
        .output()
        .unwrap();
    assert!(stdout(&o).contains("deepbet"), "the installation's catalog should be listed: {}", stdout(&o));
}

#[test]
fn downloads_are_https_only_and_no_larger_than_declared() {
    let dir = TempDir::new("curl");
    // A stand-in curl that records its arguments and returns nothing.
    let log = dir.0.join("curl-args");
    let script = format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > {}\nexit 22\n", log.display());
    let curl = dir.0.join("curl");
    std::fs::write(&curl, script).unwrap();
    let mut permissions = std::fs::metadata(&curl).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&curl, permissions).unwrap();
    let models = dir.0.join("models");
    std::fs::create_dir_all(&models).unwrap();
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/models/catalog.json"), models.join("catalog.json")).unwrap();
    let path = format!("{}:{}", dir.0.display(), std::env::var("PATH").unwrap_or_default());
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_medseg"))
        .args(["models", "fetch", "model5_gw_ae"])
        .env("MEDSEG_MODELS", &models)
        .env("PATH", path)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let args = std::fs::read_to_string(&log).unwrap();
    let args: Vec<&str> = args.lines().collect();
    for pair in [["--proto", "=https"], ["--proto-redir", "=https"]] {
        assert!(args.windows(2).any(|w| w == pair), "{pair:?} missing from {args:?}");
    }
    let limit = args.iter().position(|a| *a == "--max-filesize").map(|i| args[i + 1]);
    assert!(limit.is_some_and(|n| n.parse::<u64>().is_ok_and(|n| n > 0)), "{args:?}");
}
