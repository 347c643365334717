//! Every `.nii.gz` under ../shared/data opens, and its dims, datatype, affine, orientation
//! letters, value range and sample voxel values equal what nibabel reads
//! (tests/reference/nibabel.json, made by tests/make_nibabel_reference.py).

use crate::common;

use medseg::volume::{read_nifti, ReadLimits};
use serde_json::Value;

fn reference() -> Value {
    let text = include_str!("../reference/nibabel.json");
    serde_json::from_str(text).expect("reference JSON parses")
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn every_shared_scan_matches_nibabel() {
    let reference = reference();
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

    let mut failures = Vec::new();
    for (name, expected) in cases {
        let bytes = std::fs::read(data_dir.join(name)).unwrap();
        let volume = match read_nifti(&bytes, ReadLimits::default()) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{name}: does not open: {e}"));
                continue;
            }
        };
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
        for probe in expected["probes"].as_array().unwrap() {
            let ijk: Vec<usize> =
                probe["ijk"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
            let want = probe["value"].as_f64().unwrap();
            let got = volume.value_at([ijk[0], ijk[1], ijk[2]], 0).expect("probe inside the grid");
            if !close(got, want, 1e-5) {
                failures.push(format!("{name}: value at {ijk:?} is {got}, nibabel {want}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
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
    let Some(bytes) = common::read_shared("data/nifti-cases/pcasl.nii.gz") else { return };
    let volume = read_nifti(&bytes, ReadLimits::default()).unwrap();
    assert_eq!(volume.dims, vec![52, 68, 20, 10]);
    assert_eq!(volume.volume_count(), 10);
    let last = volume.volume_f32(9).unwrap();
    // Slices agree with the whole volume along each axis.
    let sagittal = volume.slice_f32(0, 7, 9).unwrap();
    assert_eq!(sagittal.len(), 68 * 20);
    assert_eq!(sagittal[68 + 5] as f64, volume.value_at([7, 5, 1], 9).unwrap());
    let axial = volume.slice_f32(2, 3, 9).unwrap();
    assert_eq!(axial[52 * 4 + 6] as f64, volume.value_at([6, 4, 3], 9).unwrap());
    assert!(volume.slice_f32(2, 20, 0).is_none() && volume.slice_f32(3, 0, 0).is_none());
    assert_eq!(last.len(), 52 * 68 * 20);
    assert_eq!(last[0] as f64, volume.value_at([0, 0, 0], 9).unwrap());
    assert!(volume.volume_f32(10).is_err());
}
