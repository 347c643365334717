//! Every `.nii.gz` under ../shared/data, and every public NIfTI-1 and NIfTI-2 file (tests/data/public,
//! fetched by scripts/setup.sh testdata), opens, and its dims, datatype, affine, orientation letters,
//! value range, voxel sum and sample voxel values equal what nibabel reads (tests/reference/nibabel.json
//! and nibabel_public.json, made by tests/make_nibabel_reference.py). CIFTI-2 files are refused with
//! a message that says what they are.

use std::io::Read;

use flate2::read::MultiGzDecoder;

use crate::common;

use medseg::volume::{read_nifti, ReadLimits};
use serde_json::Value;

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1.0)
}

/// How the scan `name` (its bytes) differs from what nibabel read (`expected`), one line each.
fn mismatches(name: &str, bytes: &[u8], expected: &Value) -> Vec<String> {
    let volume = match read_nifti(bytes, ReadLimits::default()) {
        Ok(v) => v,
        Err(e) => return vec![format!("{name}: does not open: {e}")],
    };
    let mut failures = Vec::new();
    let mut check = |what: &str, ok: bool, got: String| {
        if !ok {
            failures.push(format!("{name}: {what} differs: got {got}, nibabel {}", expected[what]));
        }
    };
    let dims: Vec<u64> = expected["dims"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap()).collect();
    let got_dims: Vec<u64> = volume.dims.iter().map(|&d| d as u64).collect();
    check("dims", dims == got_dims, format!("{got_dims:?}"));
    check("datatype", expected["datatype"] == volume.datatype.name(), volume.datatype.name().into());
    let affine = &volume.geometry.affine;
    let affine_ok =
        (0..4).all(|r| (0..4).all(|c| (affine[r][c] - expected["affine"][r][c].as_f64().unwrap()).abs() <= 1e-4));
    check("affine", affine_ok, format!("{affine:?}"));
    let letters = volume.geometry.orientation();
    check("orientation", expected["orientation"] == letters.as_str(), letters);
    let (lo, hi) = volume.value_range().expect("value range");
    let range_ok = close(lo, expected["value_range"][0].as_f64().unwrap(), 1e-5)
        && close(hi, expected["value_range"][1].as_f64().unwrap(), 1e-5);
    check("value_range", range_ok, format!("[{lo}, {hi}]"));
    let sum: f64 = (0..volume.volume_count())
        .flat_map(|t| volume.volume_f32(t).unwrap())
        .filter(|v| !v.is_nan())
        .map(f64::from)
        .sum();
    check("sum", close(sum, expected["sum"].as_f64().unwrap(), 1e-5), sum.to_string());
    for probe in expected["probes"].as_array().unwrap() {
        let ijk: Vec<usize> = probe["ijk"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        let want = probe["value"].as_f64().unwrap();
        let got = volume.value_at([ijk[0], ijk[1], ijk[2]], 0).expect("probe inside the grid");
        if !close(got, want, 1e-5) {
            failures.push(format!("{name}: value at {ijk:?} is {got}, nibabel {want}"));
        }
    }
    failures
}

#[test]
fn every_shared_scan_matches_nibabel() {
    let reference: Value = serde_json::from_str(include_str!("../reference/nibabel.json")).unwrap();
    let cases = reference["cases"].as_object().expect("cases object");
    let Some(data_dir) = common::shared_file("data") else { return };
    // The reference must cover every scan there is, so a new file is not silently untested.
    let mut on_disk = Vec::new();
    let mut stack = vec![data_dir.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(".nii.gz") {
                on_disk.push(path.strip_prefix(&data_dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    on_disk.sort();
    let mut listed: Vec<String> = cases.keys().cloned().collect();
    listed.sort();
    assert_eq!(on_disk, listed, "tests/reference/nibabel.json is out of date: rerun tests/make_nibabel_reference.py");

    let failures: Vec<String> = cases
        .iter()
        .flat_map(|(name, expected)| mismatches(name, &std::fs::read(data_dir.join(name)).unwrap(), expected))
        .collect();
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

fn public_reference() -> Value {
    serde_json::from_str(include_str!("../reference/nibabel_public.json")).unwrap()
}

#[test]
fn every_public_nifti_file_matches_nibabel() {
    let reference = public_reference();
    let cases = reference["cases"].as_object().expect("cases object");
    // Every pinned NIfTI file is either compared here or refused as CIFTI-2 below.
    let mut pinned: Vec<&str> =
        common::public_files().into_iter().filter(|f| f.ends_with(".nii") || f.ends_with(".nii.gz")).collect();
    pinned.sort();
    let cifti = reference["cifti"].as_array().unwrap().iter().map(|v| v.as_str().unwrap());
    let mut listed: Vec<&str> = cases.keys().map(String::as_str).chain(cifti).collect();
    listed.sort();
    assert_eq!(
        pinned, listed,
        "tests/reference/nibabel_public.json is out of date: rerun tests/make_nibabel_reference.py"
    );

    let failures: Vec<String> =
        cases.iter().flat_map(|(name, expected)| mismatches(name, &common::read_public(name), expected)).collect();
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn nifti2_files_are_among_the_cases_read_as_nibabel_reads_them() {
    let reference = public_reference();
    let name = "nibabel/tests/data/example_nifti2.nii.gz";
    assert!(reference["cases"].get(name).is_some(), "{name} is not a case of tests/reference/nibabel_public.json");
    let mut first4 = [0u8; 4];
    MultiGzDecoder::new(&common::read_public(name)[..]).read_exact(&mut first4).unwrap();
    assert_eq!(first4, 540i32.to_le_bytes(), "{name} is NIfTI-2");
}

#[test]
fn cifti_files_are_refused_with_what_they_are() {
    let reference = public_reference();
    let names = reference["cifti"].as_array().unwrap();
    assert!(!names.is_empty());
    for name in names.iter().map(|v| v.as_str().unwrap()) {
        let err = read_nifti(&common::read_public(name), ReadLimits::default()).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("CIFTI-2") && message.contains("not a 3D scan"), "{name}: {message}");
    }
}

#[test]
fn units_and_volumes_follow_the_header() {
    let Some(bytes) = common::read_shared("data/ct/example_ct.nii.gz") else { return };
    let ct = read_nifti(&bytes, ReadLimits::default()).unwrap();
    assert_eq!(ct.geometry.spacing_mm().map(|s| (s * 1e4).round() / 1e4), [3.0, 3.0, 3.0]);
    assert!((ct.geometry.voxel_volume_mm3() - 27.0).abs() < 1e-3);
    assert!((ct.volume_ml(1000) - 27.0).abs() < 1e-3, "1000 voxels of 27 mm³ are 27 mL");
    let Some(bytes) = common::read_shared("data/nifti-cases/minimal.nii.gz") else { return };
    let minimal = read_nifti(&bytes, ReadLimits::default()).unwrap();
    assert!(minimal.notes.iter().any(|n| n.contains("millimetres assumed")), "{:?}", minimal.notes);
}

#[test]
fn shear_is_kept_and_reported() {
    let Some(bytes) = common::read_shared("data/nifti-cases/shear.nii.gz") else { return };
    let volume = read_nifti(&bytes, ReadLimits::default()).unwrap();
    assert!(volume.geometry.shear() > 0.3, "shear {}", volume.geometry.shear());
    assert!(volume.notes.iter().any(|n| n.contains("shear")));
    assert!((volume.geometry.affine[2][1] - 0.1531).abs() < 1e-3, "off-diagonal term kept");
}

#[test]
fn four_d_files_keep_their_volumes() {
    // nibabel's functional.nii: 17×21×3 voxels, 20 volumes, scaled int16 (so f32 slices are
    // compared with f64 voxel values rounded to f32).
    let volume = read_nifti(&common::read_public("nibabel/tests/data/functional.nii"), ReadLimits::default()).unwrap();
    assert_eq!(volume.dims, vec![17, 21, 3, 20]);
    assert_eq!(volume.volume_count(), 20);
    let last = volume.volume_f32(19).unwrap();
    // Slices agree with the whole volume along each axis.
    let sagittal = volume.slice_f32(0, 7, 19).unwrap();
    assert_eq!(sagittal.len(), 21 * 3);
    assert_eq!(sagittal[21 + 5], volume.value_at([7, 5, 1], 19).unwrap() as f32);
    let axial = volume.slice_f32(2, 2, 19).unwrap();
    assert_eq!(axial[17 * 4 + 6], volume.value_at([6, 4, 2], 19).unwrap() as f32);
    assert!(volume.slice_f32(2, 3, 0).is_none() && volume.slice_f32(3, 0, 0).is_none());
    assert_eq!(last.len(), 17 * 21 * 3);
    assert_eq!(last[0], volume.value_at([0, 0, 0], 19).unwrap() as f32);
    assert!(volume.volume_f32(20).is_err());
}
