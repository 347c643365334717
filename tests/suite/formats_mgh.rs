//! FreeSurfer MGH/MGZ against nibabel 5.4.2 (`python3`): nibabel's own test.mgz, files nibabel
//! writes (4D, oblique, every voxel type, plain and gzipped), label maps medseg writes read back by
//! nibabel, and broken files, each with its own message.

use std::path::Path;
use std::process::Command;

use medseg::volume::{read_mgh, write_mgh_label_map, Affine, Datatype, ReadLimits};
use medseg::Volume;

use super::cli::TempDir;
use crate::common;

/// `describe FILE RAW`: prints shape, affine and dtype as JSON and writes the voxels (x fastest)
/// as little-endian values of the stored dtype to RAW. `make DIR`: writes the test files.
const SCRIPT: &str = r#"
import json, sys
import numpy as np
import nibabel as nib

def rotation(ax, ay, az):
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx

def affine(linear, origin):
    a = np.eye(4)
    a[:3, :3] = linear
    a[:3, 3] = origin
    return a

if sys.argv[1] == 'describe':
    img = nib.load(sys.argv[2])
    data = np.asanyarray(img.dataobj)
    dtype = img.get_data_dtype()
    data.astype(dtype.newbyteorder('<')).ravel(order='F').tofile(sys.argv[3])
    print(json.dumps({'shape': [int(n) for n in img.shape], 'affine': img.affine.tolist(), 'dtype': dtype.name}))
else:
    out = sys.argv[2]
    rng = np.random.default_rng(20240607)
    oblique = affine(rotation(0.3, -0.2, 0.5) @ np.diag([0.9, 1.2, 2.5]), [-31.5, 12.25, 40.0])
    lia = affine([[-1, 0, 0], [0, 0, 1], [0, -1, 0]], [3.0, -4.0, 5.0])
    cases = {
        'frames.mgz': (rng.normal(100, 40, (5, 4, 3, 6)).astype(np.float32), oblique),
        'frames.mgh': (rng.integers(-3000, 3000, (3, 4, 2, 3)).astype(np.int16), lia),
        'oblique.mgh': (rng.integers(-32768, 32767, (7, 6, 5)).astype(np.int16), oblique),
        'uint8.mgz': (rng.integers(0, 256, (6, 5, 4)).astype(np.uint8), lia),
        'uint8.mgh': (rng.integers(0, 256, (2, 3, 9)).astype(np.uint8), oblique),
        'int32.mgz': (rng.integers(-2**31, 2**31 - 1, (4, 4, 4)).astype(np.int32), lia),
        'float32.mgh': (rng.normal(0, 1e6, (5, 6, 7)).astype(np.float32), oblique),
        'int16.mgz': (rng.integers(-500, 500, (8, 3, 2)).astype(np.int16), np.diag([0.5, 0.75, 3.0, 1.0])),
    }
    cases['float32.mgh'][0][1, 2, 3] = np.nan
    cases['float32.mgh'][0][0, 0, 0] = -np.inf
    for name, (data, aff) in cases.items():
        nib.save(nib.MGHImage(data, aff), f'{out}/{name}')
"#;

fn python(args: &[&str]) -> String {
    let out = Command::new("python3").arg("-c").arg(SCRIPT).args(args).output().expect("python3 runs");
    assert!(out.status.success(), "python3 {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// What nibabel reads from `path`: its JSON description and the raw little-endian voxels.
fn nibabel(path: &Path) -> (serde_json::Value, Vec<u8>) {
    let raw = path.with_extension("raw");
    let json = python(&["describe", path.to_str().unwrap(), raw.to_str().unwrap()]);
    let bytes = std::fs::read(&raw).unwrap();
    std::fs::remove_file(&raw).unwrap();
    (serde_json::from_str(&json).unwrap(), bytes)
}

fn dtype_name(datatype: Datatype) -> &'static str {
    match datatype {
        Datatype::U8 => "uint8",
        Datatype::I16 => "int16",
        Datatype::U16 => "uint16",
        Datatype::I32 => "int32",
        Datatype::F32 => "float32",
        other => panic!("MGH never yields {other:?}"),
    }
}

fn assert_affine_within(got: &Affine, want: &serde_json::Value, tolerance: f64, what: &str) {
    for r in 0..4 {
        for c in 0..4 {
            let w = want[r][c].as_f64().unwrap();
            assert!((got[r][c] - w).abs() < tolerance, "{what}: affine {got:?}, expected {want}");
        }
    }
}

fn assert_affine_close(got: &Affine, want: &serde_json::Value, what: &str) {
    assert_affine_within(got, want, 1e-4, what);
}

/// medseg's reading of `path` equals nibabel's: dims, dtype, affine and every voxel bit for bit.
fn assert_same_as_nibabel(volume: &Volume, path: &Path) {
    let what = path.display().to_string();
    let (info, raw) = nibabel(path);
    let shape: Vec<usize> = info["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    assert_eq!(volume.dims, shape, "{what}: dims");
    assert_eq!(dtype_name(volume.datatype), info["dtype"], "{what}: dtype");
    // nibabel's float32 arithmetic is reproduced, so the affines agree far beyond 1e-4.
    assert_affine_within(&volume.geometry.affine, &info["affine"], 1e-9, &what);
    assert_eq!(volume.voxels.len(), shape.iter().product::<usize>(), "{what}: voxel count");
    assert!(volume.voxels.le_bytes(0..volume.voxels.len()) == raw, "{what}: voxel values differ from nibabel's");
}

fn read(bytes: &[u8]) -> Volume {
    read_mgh(bytes, ReadLimits::default()).unwrap()
}

fn error(bytes: &[u8]) -> String {
    read_mgh(bytes, ReadLimits::default()).unwrap_err().to_string()
}

#[test]
fn nibabel_test_mgz() {
    let name = "nibabel/tests/data/test.mgz";
    let volume = read(&common::read_public(name));
    assert_eq!(volume.dims, vec![3, 4, 5, 2]);
    assert_eq!(volume.datatype, Datatype::F32);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/public").join(name);
    assert_same_as_nibabel(&volume, &path);
}

#[test]
fn files_written_by_nibabel() {
    let dir = TempDir::new("mgh-nibabel");
    python(&["make", dir.0.to_str().unwrap()]);
    let names =
        ["frames.mgz", "frames.mgh", "oblique.mgh", "uint8.mgz", "uint8.mgh", "int32.mgz", "float32.mgh", "int16.mgz"];
    for name in names {
        let path = dir.0.join(name);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.starts_with(&[0x1f, 0x8b]), name.ends_with(".mgz"), "{name}: gzipped iff .mgz");
        let volume = read(&bytes);
        assert_same_as_nibabel(&volume, &path);
    }
    assert_eq!(read(&std::fs::read(dir.0.join("frames.mgz")).unwrap()).dims, vec![5, 4, 3, 6]);
    let oblique = read(&std::fs::read(dir.0.join("oblique.mgh")).unwrap());
    let spacing = oblique.geometry.spacing_mm();
    for (got, want) in spacing.iter().zip([0.9, 1.2, 2.5]) {
        assert!((got - want).abs() < 1e-5, "oblique spacing {spacing:?}");
    }
}

#[test]
fn label_maps_read_back_by_nibabel() {
    let dir = TempDir::new("mgh-labels");
    let oblique: Affine =
        [[0.0, -1.2, 0.1, 50.25], [0.8, 0.0, 0.6, -20.0], [-0.6, 0.05, 0.8, 7.5], [0.0, 0.0, 0.0, 1.0]];
    let lia: Affine = [[-1.0, 0.0, 0.0, 128.0], [0.0, 0.0, 1.0, -128.0], [0.0, -1.0, 0.0, 128.0], [0.0, 0.0, 0.0, 1.0]];
    let shape = [7, 5, 3];
    for (name, affine, max) in
        [("small.mgz", oblique, 41u16), ("wide.mgz", lia, 2035), ("oblique_wide.mgz", oblique, 65535)]
    {
        let labels: Vec<u16> = (0..105u32).map(|i| (i * 7919 % (u32::from(max) + 1)) as u16).collect();
        let path = dir.0.join(name);
        std::fs::write(&path, write_mgh_label_map(&labels, shape, &affine)).unwrap();
        let (info, raw) = nibabel(&path);
        assert_eq!(info["shape"], serde_json::json!([7, 5, 3]), "{name}");
        let wide = labels.iter().any(|&v| v > 255);
        assert_eq!(info["dtype"], if wide { "int32" } else { "uint8" }, "{name}");
        let json_affine = serde_json::to_value(affine).unwrap();
        let read_back = read(&std::fs::read(&path).unwrap());
        assert_affine_close(&read_back.geometry.affine, &json_affine, name);
        let nibabel_affine: Affine = serde_json::from_value(info["affine"].clone()).unwrap();
        assert_affine_close(&nibabel_affine, &json_affine, name);
        let values: Vec<u16> = if wide {
            raw.chunks_exact(4).map(|b| i32::from_le_bytes(b.try_into().unwrap()) as u16).collect()
        } else {
            raw.iter().map(|&b| u16::from(b)).collect()
        };
        assert_eq!(values, labels, "{name}: labels nibabel reads");
    }
}

/// A valid `.mgh` made by nibabel (2×3×9 uint8).
fn valid_mgh(dir: &TempDir) -> Vec<u8> {
    python(&["make", dir.0.to_str().unwrap()]);
    std::fs::read(dir.0.join("uint8.mgh")).unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn broken_files_say_what_is_wrong() {
    let dir = TempDir::new("mgh-broken");
    let good = valid_mgh(&dir); // 2×3×9 uint8: 54 bytes of data from byte 284, then the footer.
    assert_eq!(read(&good).dims, vec![2, 3, 9]);

    let cut = &good[..284 + 20];
    let message = error(cut);
    assert!(message.contains("shorter than the header says: expected 54 bytes from byte 284, found 20"), "{message}");
    assert!(error(&gzip(cut)).contains("expected 54 bytes from byte 284, found 20"));

    let message = error(&good[..60]);
    assert!(message.contains("truncated MGH header: the file holds 60 bytes"), "{message}");

    let gz = gzip(&good);
    assert!(error(&gz[..gz.len() / 2]).contains("the gzip stream is truncated"));

    let mut more = good.clone();
    more[12..16].copy_from_slice(&90i32.to_be_bytes()); // depth 9 → 90
    let message = error(&more);
    assert!(message.contains("expected 540 bytes from byte 284, found 74"), "{message}");

    let mut unknown = good.clone();
    unknown[20..24].copy_from_slice(&7i32.to_be_bytes());
    let message = error(&unknown);
    assert!(message.contains("invalid MGH header field type: unknown code 7"), "{message}");

    let mut version = good.clone();
    version[0..4].copy_from_slice(&2i32.to_be_bytes());
    let message = error(&version);
    assert!(message.contains("invalid header field version: is 2") && message.contains("expected 1"), "{message}");
    let message = error(&gzip(&version));
    assert!(message.contains("inside the gzip stream"), "{message}");

    let nifti = common::read_public("nibabel/tests/data/example4d.nii.gz");
    let message = error(&nifti);
    assert!(message.contains("not an MGH/MGZ volume"), "{message}");

    let mut huge = good.clone();
    for field in [4, 8, 12] {
        huge[field..field + 4].copy_from_slice(&100_000i32.to_be_bytes());
    }
    let message = read_mgh(&gzip(&huge), ReadLimits { max_data_bytes: 1 << 30 }).unwrap_err().to_string();
    assert!(message.contains("100000×100000×100000×1") && message.contains("memory budget"), "{message}");
}
