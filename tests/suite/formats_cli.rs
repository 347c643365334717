//! The formats through the command line: `medseg info` lists a DICOM folder's series,
//! `medseg convert` writes a DICOM series as the NIfTI dcm2niix writes (the grid of
//! example_seg_dicom.nii.gz) and round-trips it through MGZ and NRRD as nibabel and pynrrd read
//! them, a folder with two series asks for `--series`, `medseg medsam` takes a DICOM folder, and a
//! NIfTI-2 scan gets a NIfTI-2 label map.

use std::path::Path;
use std::process::Command;

use crate::cli::{assert_fails, medseg, stdout, TempDir};
use crate::common;

use medseg::labels::{LabelMap, LabelTable};
use medseg::volume::{read_scan, ReadLimits};

const SERIES: &str = "data/ct/example_ct_dicom";

/// The folder of the example CT series, or `None` (skipped) without ../shared.
fn series_dir() -> Option<std::path::PathBuf> {
    let dir = common::shared_file(SERIES);
    if dir.is_none() {
        common::skip("needs ../shared", SERIES);
    }
    dir
}

/// What python3 prints for `script` run with `args` (nibabel, pynrrd and numpy imported).
fn python(script: &str, args: &[&str]) -> serde_json::Value {
    let prelude = "import sys, json, numpy as np, nibabel as nib, nrrd\n";
    let out =
        Command::new("python3").arg("-c").arg(format!("{prelude}{script}")).args(args).output().expect("python3 runs");
    assert!(out.status.success(), "python: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn affine_of(reference: &serde_json::Value) -> Vec<Vec<f64>> {
    reference
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect())
        .collect()
}

fn assert_affines_close(a: &[Vec<f64>], b: &[Vec<f64>], tolerance: f64, what: &str) {
    for r in 0..3 {
        for c in 0..4 {
            assert!((a[r][c] - b[r][c]).abs() <= tolerance, "{what}: [{r}][{c}] {} vs {}", a[r][c], b[r][c]);
        }
    }
}

#[test]
fn info_lists_the_series_of_a_dicom_folder() {
    let Some(dir) = series_dir() else { return };
    let o = medseg(&["info", dir.to_str().unwrap()], None);
    let text = stdout(&o);
    assert!(o.status.success(), "{text}");
    assert!(
        text.contains("1 DICOM series") && text.contains("series 0: CT Body 3.0 · CT · 512×512 × 20 slices"),
        "{text}"
    );
    assert!(text.contains("format       DICOM") && text.contains("512 × 512 × 20"), "{text}");
}

#[test]
fn a_dicom_series_converts_to_the_grid_dcm2niix_writes_and_round_trips_through_mgz_and_nrrd() {
    let Some(dir) = series_dir() else { return };
    let Some(seg) = common::shared_file("data/ct/example_seg_dicom.nii.gz") else { return };
    let tmp = TempDir::new("convert");
    let nii = tmp.0.join("ct.nii.gz");
    let (mgz, nrrd) = (tmp.0.join("ct.mgz"), tmp.0.join("ct.nrrd"));
    for (from, to) in [(dir.as_path(), nii.as_path()), (nii.as_path(), mgz.as_path()), (mgz.as_path(), nrrd.as_path())]
    {
        let o = medseg(&["convert", from.to_str().unwrap(), "-o", to.to_str().unwrap()], None);
        assert!(o.status.success(), "convert {} → {}: {}", from.display(), to.display(), crate::cli::stderr(&o));
    }
    let report = python(
        "ct, mgz, seg = nib.load(sys.argv[1]), nib.load(sys.argv[2]), nib.load(sys.argv[4])\n\
         data, header = nrrd.read(sys.argv[3])\n\
         lps = np.eye(4); lps[:3, :3] = header['space directions'].T; lps[:3, 3] = header['space origin']\n\
         ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps\n\
         v = ct.get_fdata()\n\
         print(json.dumps({'shape': list(ct.shape), 'ct': ct.affine.tolist(), 'seg': seg.affine.tolist(), 'mgz': mgz.affine.tolist(),\n\
           'nrrd': ras.tolist(), 'mgz_equal': bool(np.array_equal(mgz.get_fdata(), v)), 'nrrd_equal': bool(np.array_equal(data, v)),\n\
           'range': [float(v.min()), float(v.max())]}))",
        &[nii.to_str().unwrap(), mgz.to_str().unwrap(), nrrd.to_str().unwrap(), seg.to_str().unwrap()],
    );
    assert_eq!(report["shape"], serde_json::json!([512, 512, 20]));
    let ct = affine_of(&report["ct"]);
    assert_affines_close(&ct, &affine_of(&report["seg"]), 1e-3, "DICOM → NIfTI vs example_seg_dicom.nii.gz");
    assert_affines_close(&affine_of(&report["mgz"]), &ct, 1e-3, "MGZ vs NIfTI");
    assert_affines_close(&affine_of(&report["nrrd"]), &ct, 1e-3, "NRRD (LPS → RAS) vs NIfTI");
    assert_eq!(report["mgz_equal"], true, "MGZ voxels");
    assert_eq!(report["nrrd_equal"], true, "NRRD voxels");
    assert_eq!(report["range"], serde_json::json!([-1024.0, 1839.0]), "Hounsfield units after the rescale");
}

#[test]
fn a_folder_with_two_series_asks_which_and_medsam_reads_a_dicom_folder() {
    let Some(dir) = series_dir() else { return };
    let tmp = TempDir::new("two-series");
    let study = tmp.0.join("study");
    std::fs::create_dir_all(study.join("ct")).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, study.join("ct").join(path.file_name().unwrap())).unwrap();
    }
    std::fs::write(study.join("mr.dcm"), common::read_public("pydicom/data/test_files/MR_small.dcm")).unwrap();
    let out = tmp.0.join("ct.nii.gz");
    let (study, out) = (study.to_str().unwrap(), out.to_str().unwrap());
    assert_fails(&medseg(&["convert", study, "-o", out], None), 1, "holds 2 DICOM series; choose one with --series N");
    let listed = stdout(&medseg(&["info", study], None));
    let ct = if listed.contains("series 0: CT Body") { "0" } else { "1" };
    let o = medseg(&["convert", study, "--series", ct, "-o", out], None);
    assert!(o.status.success(), "{}", crate::cli::stderr(&o));
    assert_eq!(read_scan(&std::fs::read(out).unwrap(), ReadLimits::default()).unwrap().dims, [512, 512, 20]);
    assert_fails(&medseg(&["convert", study, "--series", "7", "-o", out], None), 1, "there is no series 7");

    // MedSAM on the CT folder itself (one series): a box on axial slice 10.
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    if !models.join("litemedsam/medsam.json").exists() {
        common::skip("needs models/litemedsam", "medsam on a DICOM folder");
        return;
    }
    let mask = tmp.0.join("mask.nii.gz");
    let o = medseg(
        &[
            "medsam",
            dir.to_str().unwrap(),
            "--slice",
            "2:10",
            "--box",
            "180,180,330,330",
            "--window",
            "-160,240",
            "-o",
            mask.to_str().unwrap(),
        ],
        Some(&models),
    );
    assert!(o.status.success(), "{}", crate::cli::stderr(&o));
    let labels = read_scan(&std::fs::read(&mask).unwrap(), ReadLimits::default()).unwrap();
    assert_eq!(labels.dims, [512, 512, 20]);
    assert!(labels.voxels.min_max(0..labels.voxels.len()).unwrap().1 >= 1.0, "MedSAM found the object");
}

#[test]
fn a_nifti2_scan_gets_a_nifti2_label_map_and_converts_both_ways() {
    let bytes = common::read_public("nibabel/tests/data/example_nifti2.nii.gz");
    let scan = read_scan(&bytes, ReadLimits::default()).unwrap();
    assert_eq!(scan.format, medseg::volume::ScanFormat::Nifti2);
    let map = LabelMap::on_grid_of(&scan, vec![1; scan.voxels_per_volume()], LabelTable::default());
    let written = map.to_nii_gz();
    let back = read_scan(&written, ReadLimits::default()).unwrap();
    assert_eq!(back.format, medseg::volume::ScanFormat::Nifti2, "the label map of a NIfTI-2 scan is NIfTI-2");
    assert_eq!(back.shape3(), scan.shape3());
    assert_eq!(back.geometry.affine, scan.geometry.affine);

    let tmp = TempDir::new("nifti2");
    let input = tmp.0.join("in.nii.gz");
    std::fs::write(&input, &bytes).unwrap();
    let (one, two) = (tmp.0.join("one.nii.gz"), tmp.0.join("two.nii.gz"));
    assert!(medseg(&["convert", input.to_str().unwrap(), "-o", one.to_str().unwrap()], None).status.success());
    assert!(medseg(&["convert", one.to_str().unwrap(), "--nifti2", "-o", two.to_str().unwrap()], None)
        .status
        .success());
    let report = python(
        "a, b, c = (nib.load(p) for p in sys.argv[1:4])\n\
         print(json.dumps({'kinds': [type(x).__name__ for x in (a, b, c)],\n\
           'equal': bool(np.array_equal(a.get_fdata(), b.get_fdata()) and np.array_equal(a.get_fdata(), c.get_fdata())),\n\
           'affine': float(max(np.abs(a.affine - b.affine).max(), np.abs(a.affine - c.affine).max()))}))",
        &[input.to_str().unwrap(), one.to_str().unwrap(), two.to_str().unwrap()],
    );
    assert_eq!(report["kinds"], serde_json::json!(["Nifti2Image", "Nifti1Image", "Nifti2Image"]));
    assert_eq!(report["equal"], true);
    assert!(report["affine"].as_f64().unwrap() < 1e-5, "{report}");
}

#[test]
fn convert_refuses_an_output_it_cannot_write() {
    let tmp = TempDir::new("convert-bad");
    let scan = crate::cli::tiny_scan(&tmp.0);
    let out = tmp.0.join("x.png");
    assert_fails(&medseg(&["convert", &scan, "-o", out.to_str().unwrap()], None), 1, ".nii.gz, .mgz or .nrrd");
}

/// Writes three NIfTI-2 files with nibabel into argv[1] and prints what nibabel reads from them.
const NIFTI2_FILES: &str = r#"
out = sys.argv[1]
rng = np.random.default_rng(7)
c, s = np.cos(0.4), np.sin(0.4)
oblique = np.array([[0.9 * c, -1.1 * s, 0.2, -40.5], [0.9 * s, 1.1 * c, 0.0, 12.25], [0.0, 0.1, 2.5, -7.0], [0, 0, 0, 1]])
cases = {
    'four_d.nii.gz': (rng.integers(-500, 500, (6, 5, 4, 3)).astype(np.int16), np.diag([2.0, 2.0, 3.0, 1.0]), '<'),
    'oblique.nii': (rng.random((7, 6, 5)).astype(np.float32), oblique, '<'),
    'big_endian.nii': (rng.integers(0, 60000, (5, 4, 3)).astype(np.uint16), np.diag([-1.5, 1.5, 1.5, 1.0]), '>'),
}
for name, (data, affine, order) in cases.items():
    img = nib.Nifti2Image(data, affine, header=nib.Nifti2Header(endianness=order))
    nib.save(img, f'{out}/{name}')
report = {}
for name in cases:
    img = nib.load(f'{out}/{name}')
    v = img.get_fdata()
    report[name] = {'shape': list(img.shape), 'affine': img.affine.tolist(), 'sum': float(v.sum()),
                    'first': float(v.flat[0]), 'last': float(v.flat[-1]),
                    'big': bool(img.header.endianness == '>'), 'version': type(img).__name__}
print(json.dumps(report))
"#;

#[test]
fn nifti2_files_made_by_nibabel_read_as_nibabel_reads_them() {
    // A 4D one, a non-axis-aligned (rotated, sheared) one and a big-endian one, each through
    // medseg's reader: dims, affine and every value as nibabel has them.
    let tmp = TempDir::new("nifti2-nibabel");
    let dir = tmp.0.to_str().unwrap();
    let made = python(NIFTI2_FILES, &[dir]);
    for (name, expected) in made.as_object().unwrap() {
        assert_eq!(expected["version"], "Nifti2Image", "{name}");
        let scan = read_scan(&std::fs::read(tmp.0.join(name)).unwrap(), ReadLimits::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(scan.format, medseg::volume::ScanFormat::Nifti2, "{name}");
        let shape: Vec<usize> =
            expected["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        assert_eq!(scan.dims, shape, "{name}");
        let affine: Vec<Vec<f64>> = scan.geometry.affine.iter().map(|r| r.to_vec()).collect();
        assert_affines_close(&affine, &affine_of(&expected["affine"]), 1e-6, name);
        let values: Vec<f64> = (0..scan.voxels.len()).map(|i| scan.voxels.get_f64(i)).collect();
        let sum: f64 = values.iter().sum();
        let want = expected["sum"].as_f64().unwrap();
        assert!((sum - want).abs() <= 1e-6 * want.abs().max(1.0), "{name}: sum {sum} vs nibabel {want}");
        let (first, last) = (expected["first"].as_f64().unwrap(), expected["last"].as_f64().unwrap());
        assert!(
            (values[0] - first).abs() < 1e-6 && (values[values.len() - 1] - last).abs() < 1e-6,
            "{name}: first/last voxel"
        );
    }
    assert_eq!(made["big_endian.nii"]["big"], true, "nibabel wrote it big-endian");
}

#[test]
fn nothing_medseg_writes_from_dicom_carries_the_patient() {
    // pydicom's CT_small.dcm names its patient "CompressedSamples^CT1", ID "1CT1".
    let tmp = TempDir::new("privacy");
    let input = tmp.0.join("ct.dcm");
    std::fs::write(&input, common::read_public("pydicom/data/test_files/CT_small.dcm")).unwrap();
    for output in ["ct.nii.gz", "ct.mgz", "ct.nrrd"] {
        let out = tmp.0.join(output);
        let o = medseg(&["convert", input.to_str().unwrap(), "-o", out.to_str().unwrap()], None);
        assert!(o.status.success(), "{}", crate::cli::stderr(&o));
        let mut text = Vec::new();
        let bytes = std::fs::read(&out).unwrap();
        let start = bytes.windows(2).position(|w| w == [0x1f, 0x8b]).unwrap_or(0);
        std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&bytes[start..]), &mut text).unwrap();
        text.extend_from_slice(&bytes[..start]);
        for secret in [&b"CompressedSamples"[..], b"1CT1"] {
            assert!(
                !text.windows(secret.len()).any(|w| w == secret),
                "{output} carries {}",
                String::from_utf8_lossy(secret)
            );
        }
    }
    let info = stdout(&medseg(&["info", "--json", input.to_str().unwrap()], None));
    assert!(!info.contains("CompressedSamples") && !info.contains("1CT1"), "{info}");
}
