//! DICOM series against pydicom 3.0.2 (`python3`): the public pydicom/nibabel test files decode to
//! pydicom's values (modality LUT applied) with the affine their headers give; the example CT
//! series in ../shared matches nibabel's affine of the label map drawn on it and dcm2niix's NIfTI
//! (when dcm2niix is installed); broken folders each get their own message.
//!
//! The expected affine follows dcm2niix (see src/volume/dicom.rs): i along the row cosine ×
//! PixelSpacing[1], j along the column cosine × PixelSpacing[0] with rows stored bottom first (so
//! its column is negated and the origin is the first slice's last row), k along row × column
//! cosine × the spacing between positions; LPS → RAS negates x and y. A single slice takes
//! SpacingBetweenSlices, else SliceThickness, as its third column's length.
//!
//! Skips when python3 with pydicom is absent (`scripts/setup.sh dicom` installs it).

use std::path::{Path, PathBuf};
use std::process::Command;

use medseg::volume::{
    list_dicom_series, read_dicom_file, read_dicom_series, read_nifti, Affine, DicomInput, ReadLimits,
};
use medseg::Volume;
use serde_json::Value;

use crate::cli::TempDir;
use crate::common;

/// `describe FILE RAW`: prints the geometry fields as JSON and writes pydicom's pixel_array after
/// the modality LUT as little-endian float64 (rows, then columns; frames first) to RAW.
/// `series SRC DIR N`: writes N copies of SRC as one series, slices 2 mm apart along z.
/// `affine NIFTI`: prints nibabel's affine and shape.
const SCRIPT: &str = r#"
import json, sys
import numpy as np

if sys.argv[1] == 'describe':
    import pydicom
    from pydicom.pixels import apply_modality_lut
    ds = pydicom.dcmread(sys.argv[2])
    arr = apply_modality_lut(ds.pixel_array, ds).astype('<f8')
    arr.tofile(sys.argv[3])
    get = lambda k: [float(v) for v in ds[k].value] if k in ds else None
    one = lambda k: float(ds[k].value) if k in ds and ds[k].value not in (None, '') else None
    print(json.dumps({'shape': list(arr.shape), 'ipp': get('ImagePositionPatient'),
                      'iop': get('ImageOrientationPatient'), 'spacing': get('PixelSpacing'),
                      'thickness': one('SliceThickness'), 'between': one('SpacingBetweenSlices')}))
elif sys.argv[1] == 'series':
    import pydicom
    from pydicom.uid import generate_uid
    src, out, n = sys.argv[2], sys.argv[3], int(sys.argv[4])
    series = generate_uid()
    for i in range(n):
        ds = pydicom.dcmread(src)
        ds.SeriesInstanceUID = series
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = i + 1
        ds.ImagePositionPatient = [-83.9063, -91.2, 6.6406 + 2.0 * i]
        ds.save_as(f'{out}/slice{i:02d}.dcm')
else:
    import nibabel as nib
    img = nib.load(sys.argv[2])
    print(json.dumps({'shape': [int(s) for s in img.shape], 'affine': img.affine.tolist()}))
"#;

/// Runs the script; `None` (the test skips) when python3 or pydicom is missing.
fn python(dir: &Path, args: &[&str]) -> Option<Value> {
    let probe = Command::new("python3").args(["-c", "import pydicom, numpy"]).output();
    if !probe.map(|o| o.status.success()).unwrap_or(false) {
        common::skip("needs python3 with pydicom", "run scripts/setup.sh dicom");
        return None;
    }
    let script = dir.join("dicom_reference.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let out = Command::new("python3").arg(&script).args(args).output().expect("python3 runs");
    assert!(out.status.success(), "python3 {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    Some(serde_json::from_slice(&out.stdout).unwrap_or(Value::Null))
}

fn numbers(v: &Value) -> Option<Vec<f64>> {
    v.as_array().map(|a| a.iter().map(|x| x.as_f64().unwrap()).collect())
}

fn assert_affine(got: &Affine, want: &Affine, tol: f64, what: &str) {
    for r in 0..4 {
        for c in 0..4 {
            assert!((got[r][c] - want[r][c]).abs() <= tol, "{what}: affine\n{got:?}\nexpected\n{want:?}");
        }
    }
}

/// The affine expected for one slice from its IPP/IOP/PixelSpacing (see the module doc).
fn expected_affine(d: &Value, rows: usize) -> Affine {
    let ipp = numbers(&d["ipp"]).unwrap();
    let iop = numbers(&d["iop"]).unwrap();
    let ps = numbers(&d["spacing"]).unwrap();
    let depth = d["between"].as_f64().or(d["thickness"].as_f64()).unwrap_or(1.0);
    let r = [iop[0], iop[1], iop[2]];
    let c = [iop[3], iop[4], iop[5]];
    let n = [r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0]];
    let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
    let mut a = [[0.0; 4]; 4];
    for i in 0..3 {
        let s = if i < 2 { -1.0 } else { 1.0 };
        a[i] = [
            s * r[i] * ps[1],
            -s * c[i] * ps[0],
            s * n[i] / len * depth,
            s * (ipp[i] + c[i] * ps[0] * (rows - 1) as f64),
        ];
    }
    a[3] = [0.0, 0.0, 0.0, 1.0];
    a
}

/// `vol` holds pydicom's values (rows stored bottom first).
fn assert_values(vol: &Volume, expected: &[f64], rows: usize, columns: usize, frames: usize, tol: f64, what: &str) {
    assert_eq!(expected.len(), rows * columns * frames, "{what}");
    for f in 0..frames {
        for r in 0..rows {
            for c in 0..columns {
                let want = expected[(f * rows + r) * columns + c];
                let got = vol.value_at([c, rows - 1 - r, f], 0).unwrap();
                assert!((got - want).abs() <= tol, "{what}: frame {f} row {r} column {c}: {got}, pydicom {want}");
            }
        }
    }
}

#[test]
fn pydicom_test_files_match_pydicom() {
    let tmp = TempDir::new("public");
    for name in [
        "pydicom/data/test_files/CT_small.dcm",
        "pydicom/data/test_files/MR_small.dcm",
        "pydicom/data/test_files/MR_small_implicit.dcm",
        "pydicom/data/test_files/MR_small_bigendian.dcm",
        "pydicom/data/test_files/MR_small_RLE.dcm",
        "nibabel/tests/data/0.dcm",
    ] {
        let bytes = common::read_public(name);
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/public").join(name);
        let raw = tmp.0.join("values.f64");
        let Some(d) = python(&tmp.0, &["describe", path.to_str().unwrap(), raw.to_str().unwrap()]) else { return };
        let shape = numbers(&d["shape"]).unwrap();
        let (rows, columns) = (shape[shape.len() - 2] as usize, shape[shape.len() - 1] as usize);
        let values: Vec<f64> =
            std::fs::read(&raw).unwrap().chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect();
        let vol = read_dicom_file(&bytes, ReadLimits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(vol.dims, vec![columns, rows, 1], "{name}");
        assert_values(&vol, &values, rows, columns, 1, 1e-6, name);
        assert_affine(&vol.geometry.affine_mm(), &expected_affine(&d, rows), 1e-4, name);
        assert!(!vol.description.contains("^"), "{name}: description {:?} looks like a PatientName", vol.description);
    }
}

#[test]
fn ct_small_keeps_its_rescale_as_scaling() {
    let vol =
        read_dicom_file(&common::read_public("pydicom/data/test_files/CT_small.dcm"), ReadLimits::default()).unwrap();
    assert_eq!(vol.scaling, Some((1.0, -1024.0)));
    assert_eq!(vol.datatype, medseg::volume::Datatype::I16);
}

fn read_dir(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
        .into_iter()
        .filter(|p| p.extension().is_none_or(|e| e != "py"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect()
}

fn inputs(files: &[(String, Vec<u8>)]) -> Vec<DicomInput<'_>> {
    files.iter().map(|(name, bytes)| DicomInput { name, bytes }).collect()
}

/// Lists and reads the one series among `files`.
fn read_series(files: &[(String, Vec<u8>)]) -> Result<Volume, String> {
    let inputs = inputs(files);
    let (series, _) = list_dicom_series(&inputs).map_err(|e| e.to_string())?;
    assert_eq!(series.len(), 1, "{series:?}");
    read_dicom_series(&inputs, &series[0], ReadLimits::default()).map_err(|e| e.to_string())
}

#[test]
fn example_ct_series_matches_nibabel_and_dcm2niix() {
    let Some(dir) = common::shared_file("data/ct/example_ct_dicom") else { return };
    let Some(seg) = common::shared_file("data/ct/example_seg_dicom.nii.gz") else { return };
    let tmp = TempDir::new("ct");
    let files = read_dir(&dir);
    let vol = read_series(&files).unwrap();
    assert_eq!(vol.dims, vec![512, 512, 20]);
    assert_eq!(vol.description, "CT Body 3.0");
    let Some(nib) = python(&tmp.0, &["affine", seg.to_str().unwrap()]) else { return };
    let want: Vec<Vec<f64>> = nib["affine"].as_array().unwrap().iter().map(|r| numbers(r).unwrap()).collect();
    let want: Affine = std::array::from_fn(|r| std::array::from_fn(|c| want[r][c]));
    assert_affine(&vol.geometry.affine_mm(), &want, 1e-3, "nibabel's affine of example_seg_dicom.nii.gz");

    if Command::new("dcm2niix").arg("-v").output().is_err() {
        common::skip("needs dcm2niix", "apt-get install dcm2niix (scripts/setup.sh dicom)");
        return;
    }
    let out_dir = tmp.0.join("dcm2niix");
    std::fs::create_dir_all(&out_dir).unwrap();
    let run = Command::new("dcm2niix")
        .args(["-z", "y", "-f", "out", "-o", out_dir.to_str().unwrap(), dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(run.status.success(), "dcm2niix: {}", String::from_utf8_lossy(&run.stdout));
    let nii = read_nifti(&std::fs::read(out_dir.join("out.nii.gz")).unwrap(), ReadLimits::default()).unwrap();
    assert_eq!(nii.dims, vol.dims);
    assert_affine(&vol.geometry.affine_mm(), &nii.geometry.affine_mm(), 1e-3, "dcm2niix's affine");
    let (a, b) = (vol.volume_f32(0).unwrap(), nii.volume_f32(0).unwrap());
    let differ = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    assert_eq!(differ, 0, "{differ} voxels differ from dcm2niix's");
}

/// A synthetic 5-slice series (copies of MR_small.dcm 2 mm apart); `None` when pydicom is absent.
fn synthetic_series(tmp: &TempDir) -> Option<Vec<(String, Vec<u8>)>> {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/public/pydicom/data/test_files/MR_small.dcm");
    let dir = tmp.0.join("series");
    std::fs::create_dir_all(&dir).unwrap();
    python(&tmp.0, &["series", src.to_str().unwrap(), dir.to_str().unwrap(), "5"])?;
    Some(read_dir(&dir))
}

#[test]
fn synthetic_series_reads_and_lists() {
    let tmp = TempDir::new("synthetic");
    let Some(files) = synthetic_series(&tmp) else { return };
    let inputs = inputs(&files);
    let (series, skipped) = list_dicom_series(&inputs).unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!((series[0].slices, series[0].frames_per_slice, series[0].rows, series[0].columns), (5, 1, 64, 64));
    let vol = read_dicom_series(&inputs, &series[0], ReadLimits::default()).unwrap();
    assert_eq!(vol.dims, vec![64, 64, 5]);
    assert!((vol.geometry.affine_mm()[2][2] - 2.0).abs() < 1e-9);
    // Shuffled inputs read the same.
    let mut reversed = files.clone();
    reversed.reverse();
    let again = read_series(&reversed).unwrap();
    assert_eq!(again.voxels, vol.voxels);
    assert_eq!(again.geometry.affine_mm(), vol.geometry.affine_mm());
}

#[test]
fn truncated_file_is_named() {
    let bytes = common::read_public("pydicom/data/test_files/MR_small.dcm");
    let cut = &bytes[..bytes.len() - 1000];
    let e = read_dicom_file(cut, ReadLimits::default()).unwrap_err().to_string();
    assert!(e.contains("truncated"), "{e}");
    let e = read_dicom_file(&bytes[..100], ReadLimits::default()).unwrap_err().to_string();
    assert!(e.contains("not a DICOM file"), "{e}");
}

#[test]
fn missing_slice_is_named() {
    let tmp = TempDir::new("missing");
    let Some(mut files) = synthetic_series(&tmp) else { return };
    files.remove(2);
    let e = read_series(&files).unwrap_err();
    assert!(e.contains("a slice is missing") && e.contains("slice01.dcm") && e.contains("slice03.dcm"), "{e}");
}

#[test]
fn duplicated_file_is_named() {
    let tmp = TempDir::new("duplicate");
    let Some(mut files) = synthetic_series(&tmp) else { return };
    let copy = ("copy_of_slice02.dcm".to_owned(), files[2].1.clone());
    files.push(copy);
    let e = read_series(&files).unwrap_err();
    assert!(
        e.contains("duplicate slice position") && e.contains("copy_of_slice02.dcm") && e.contains("slice02.dcm"),
        "{e}"
    );
}

#[test]
fn non_dicom_file_is_skipped_with_a_reason() {
    let tmp = TempDir::new("stray");
    let Some(mut files) = synthetic_series(&tmp) else { return };
    files.push(("README.txt".to_owned(), b"scanned on Tuesday\n".repeat(20)));
    let inputs = inputs(&files);
    let (series, skipped) = list_dicom_series(&inputs).unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].files.len(), 5);
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(skipped[0].contains("README.txt") && skipped[0].contains("not a DICOM file"), "{skipped:?}");
    read_dicom_series(&inputs, &series[0], ReadLimits::default()).unwrap();
}

#[test]
fn only_non_image_objects_is_an_error() {
    let seg = common::read_public("pydicom/data/test_files/liver_1frame.dcm");
    let files = vec![("liver_seg.dcm".to_owned(), seg), ("notes.txt".to_owned(), b"hello".to_vec())];
    let e = list_dicom_series(&inputs(&files)).unwrap_err().to_string();
    assert!(e.contains("no DICOM image series"), "{e}");
    assert!(e.contains("liver_seg.dcm: a Segmentation object (SEG)"), "{e}");
    assert!(e.contains("notes.txt: not a DICOM file"), "{e}");
}

#[test]
fn over_budget_series_is_refused_before_allocating() {
    let bytes = common::read_public("pydicom/data/test_files/CT_small.dcm");
    let e = read_dicom_file(&bytes, ReadLimits { max_data_bytes: 1000 }).unwrap_err().to_string();
    assert!(e.contains("memory budget"), "{e}");
}

/// What a pinned pydicom test file must read as.
enum Expect {
    /// Equal to pydicom's `apply_modality_lut(pixel_array)`.
    Pydicom,
    /// Compressed with a codec pydicom 3.0.2 cannot decode without plugins (pylibjpeg/openjpeg,
    /// not installed): equal to pydicom's values of the uncompressed twin file.
    Twin(&'static str),
    /// Compressed, no twin in the wheel: the sum of all values and values at (row, column), from
    /// pydicom 3.0.2 + pylibjpeg 2 + pylibjpeg-openjpeg 2.6 (installed once, outside the test).
    Points(f64, &'static [(usize, usize, f64)]),
    /// `read_dicom_file` refuses it with a message containing every word.
    Refused(&'static [&'static str]),
}

#[test]
fn pinned_pydicom_files_decode_like_pydicom_or_are_refused() {
    use Expect::*;
    const DIR: &str = "pydicom/data/test_files/";
    // (file, (columns, rows, frames), expectation)
    let cases: &[(&str, [usize; 3], Expect)] = &[
        ("MR_small_expb.dcm", [64, 64, 1], Pydicom),
        ("MR_small_padded.dcm", [64, 64, 1], Pydicom),
        ("image_dfl.dcm", [512, 512, 1], Pydicom),
        ("rtdose.dcm", [10, 10, 15], Pydicom),
        // Its positions, orientation and GridFrameOffsetVector are stored with VR UN (now read, as
        // pydicom reads them through its dictionary); its 32-bit RLE frames then defeat dicom-rs's
        // RLE decoder, which pydicom decodes.
        ("rtdose_rle.dcm", [10, 10, 15], Refused(&["RLE Lossless", "could not be decoded"])),
        ("liver_expb_1frame.dcm", [512, 512, 1], Refused(&["Segmentation object (SEG)", "not an image"])),
        ("MR_small_jp2klossless.dcm", [64, 64, 1], Twin("MR_small.dcm")),
        ("JPEG2000.dcm", [256, 1024, 1], Points(3527976.0, &[(420, 140, 222.0), (230, 120, 95.0), (0, 0, 0.0)])),
        ("693_J2KI.dcm", [512, 512, 1], Points(-270617240.0, &[(256, 256, 32.0), (100, 300, -13.0), (0, 0, -3040.0)])),
        // 12-bit JPEG Extended: the pure-Rust JPEG decoder cannot decode it.
        (
            "JPGExtended.dcm",
            [256, 1024, 1],
            Refused(&["JPEG Extended", "1.2.840.10008.1.2.4.51", "could not be decoded"]),
        ),
        (
            "JPEG-lossy.dcm",
            [256, 1024, 1],
            Refused(&["JPEG Extended", "1.2.840.10008.1.2.4.51", "could not be decoded"]),
        ),
        ("MR_small_jpeg_ls_lossless.dcm", [64, 64, 1], Refused(&["1.2.840.10008.1.2.4.80", "JPEG-LS"])),
        ("SC_rgb_small_odd.dcm", [3, 3, 1], Refused(&["SamplesPerPixel is 3", "RGB"])),
        ("SC_rgb_rle.dcm", [100, 100, 1], Refused(&["SamplesPerPixel is 3", "RGB"])),
        ("ExplVR_BigEnd.dcm", [80, 60, 1], Refused(&["SamplesPerPixel is 3", "RGB"])),
        ("examples_jpeg2k.dcm", [640, 480, 1], Refused(&["SamplesPerPixel is 3", "YBR_RCT"])),
        ("ExplVR_LitEndNoMeta.dcm", [0, 0, 0], Refused(&["not a DICOM file", "File Meta"])),
        ("reportsi.dcm", [0, 0, 0], Refused(&["not an image"])),
        ("rtplan.dcm", [0, 0, 0], Refused(&["not an image"])),
        // No File Meta header: refused like ExplVR_LitEndNoMeta.dcm.
        ("rtstruct.dcm", [0, 0, 0], Refused(&["not a DICOM file", "File Meta"])),
        ("MR_truncated.dcm", [64, 64, 1], Refused(&["truncated"])),
    ];
    let tmp = TempDir::new("pinned");
    let mut failures = Vec::new();
    for (file, dims, expect) in cases {
        let name = format!("{DIR}{file}");
        let got = read_dicom_file(&common::read_public(&name), ReadLimits::default());
        match (expect, got) {
            (Refused(words), Err(e)) => {
                let e = e.to_string();
                if !words.iter().all(|w| e.contains(w)) {
                    failures.push(format!("{file}: refused with {e:?}, expected the words {words:?}"));
                }
            }
            (Refused(_), Ok(vol)) => failures.push(format!("{file}: read ({:?}), expected a refusal", vol.dims)),
            (_, Err(e)) => failures.push(format!("{file}: {e}")),
            (expect, Ok(vol)) => {
                if vol.dims != dims.to_vec() {
                    failures.push(format!("{file}: dims {:?}, expected {dims:?}", vol.dims));
                    continue;
                }
                let [columns, rows, frames] = *dims;
                let what = match expect {
                    Twin(twin) => format!("{DIR}{twin}"),
                    _ => name.clone(),
                };
                match expect {
                    Points(sum, points) => {
                        let total: f64 = vol.volume_f32(0).unwrap().iter().map(|&v| v as f64).sum();
                        if total != *sum {
                            failures.push(format!("{file}: sum {total}, expected {sum}"));
                        }
                        for &(r, c, want) in *points {
                            let v = vol.value_at([c, rows - 1 - r, 0], 0).unwrap();
                            if v != want {
                                failures.push(format!("{file}: row {r} column {c}: {v}, pydicom's tests {want}"));
                            }
                        }
                    }
                    _ => {
                        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/public").join(&what);
                        let raw = tmp.0.join("values.f64");
                        let Some(_) = python(&tmp.0, &["describe", path.to_str().unwrap(), raw.to_str().unwrap()])
                        else {
                            return;
                        };
                        let values: Vec<f64> = std::fs::read(&raw)
                            .unwrap()
                            .chunks_exact(8)
                            .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
                            .collect();
                        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            assert_values(&vol, &values, rows, columns, frames, 1e-6, file)
                        }));
                        if let Err(p) = r {
                            failures.push(format!("{file}: {:?}", p.downcast_ref::<String>()));
                        }
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
