//! NRRD against pynrrd 1.1.3: files pynrrd writes (LPS raw, RAS gzip, oblique, big-endian, 4D
//! with a list axis last, a vector axis first, a detached .nhdr + .raw.gz, ascii; int16, float32,
//! uint8) open in medseg with pynrrd's dims, every voxel value, and the RAS affine computed from
//! pynrrd's header (space directions and origin, LPS → RAS as 3D Slicer does); a segmentation
//! written by `write_seg_nrrd` reads back in pynrrd with the same values, geometry and Slicer's
//! segment fields; broken files are refused with messages that say what is wrong.
//! Skips when python3 with pynrrd is absent (`scripts/setup.sh readers` installs it).

use std::path::Path;
use std::process::Command;

use crate::cli::TempDir;
use crate::common;

use medseg::volume::{read_nrrd, read_nrrd_detached, write_seg_nrrd, Affine, ReadError, ReadLimits};
use serde_json::Value;

/// Writes the test files into the folder given, and prints what pynrrd reads from each (JSON);
/// or, with `read FILE`, prints what pynrrd reads from FILE.
const SCRIPT: &str = r#"
import json, os, sys
import numpy as np
import nrrd

def ras_affine(header):
    sd = np.asarray(header['space directions'], dtype=float)
    spatial = [i for i in range(sd.shape[0]) if not np.any(np.isnan(sd[i]))]
    m = np.eye(4)
    m[:3, :3] = sd[spatial].T
    m[:3, 3] = np.asarray(header.get('space origin', [0, 0, 0]), dtype=float)
    space = header.get('space', 'left-posterior-superior')
    if space in ('left-posterior-superior', 'LPS'):
        m = np.diag([-1.0, -1.0, 1.0, 1.0]) @ m
    elif space not in ('right-anterior-superior', 'RAS'):
        raise SystemExit('unexpected space ' + space)
    return m, spatial

def describe(path):
    data, header = nrrd.read(path)
    affine, spatial = ras_affine(header)
    rest = [i for i in range(data.ndim) if i not in spatial]
    arranged = np.transpose(data, spatial + rest)
    segments = {k: v for k, v in header.items() if k.startswith('Segment')}
    return {
        'dims': list(arranged.shape),
        'datatype': data.dtype.name,
        'affine': affine.tolist(),
        'values': arranged.flatten(order='F').tolist(),
        'space': header.get('space'),
        'type': header['type'],
        'segments': {k: str(v) for k, v in segments.items()},
    }

def rotation(a, b, c):
    ca, sa, cb, sb, cc, sc = np.cos(a), np.sin(a), np.cos(b), np.sin(b), np.cos(c), np.sin(c)
    rx = np.array([[1, 0, 0], [0, ca, -sa], [0, sa, ca]])
    ry = np.array([[cb, 0, sb], [0, 1, 0], [-sb, 0, cb]])
    rz = np.array([[cc, -sc, 0], [sc, cc, 0], [0, 0, 1]])
    return rz @ ry @ rx

if sys.argv[1] == 'read':
    print(json.dumps(describe(sys.argv[2])))
    raise SystemExit(0)

out = sys.argv[1]
rng = np.random.default_rng(7)
def spatial_header(space, directions, origin, encoding, kinds=None):
    h = {'space': space, 'space directions': directions, 'space origin': np.array(origin, dtype=float),
         'encoding': encoding}
    if kinds:
        h['kinds'] = kinds
    return h

cases = []
def case(name, filename, data, header, detached=False):
    path = os.path.join(out, filename)
    nrrd.write(path, data, header, detached_header=detached)
    entry = describe(path)
    entry['name'] = name
    entry['file'] = filename
    if filename.endswith('.nhdr'):
        entry['data_file'] = nrrd.read_header(path)['data file']
    cases.append(entry)

d = rng.integers(-1000, 1000, size=(5, 6, 7)).astype(np.int16)
case('lps_raw_int16', 'lps_raw.nrrd', d,
     spatial_header('left-posterior-superior', np.diag([0.9, 1.1, 2.5]), [-10.5, 20.25, -30], 'raw'))
d = rng.standard_normal((4, 5, 6)).astype(np.float32) * 100
case('ras_gzip_float32', 'ras_gzip.nrrd', d,
     spatial_header('RAS', np.array([[-1.2, 0, 0], [0, 0.8, 0], [0, 0, -3.0]]), [1, 2, 3], 'gzip'))
r = rotation(0.3, -0.2, 0.5) @ np.diag([0.7, 1.3, 2.1])
d = rng.integers(0, 256, size=(6, 5, 4)).astype(np.uint8)
case('oblique_uint8', 'oblique.nrrd', d,
     spatial_header('left-posterior-superior', r.T, [12.5, -7.25, 40.0], 'gzip'))
d = rng.integers(-30000, 30000, size=(3, 4, 5)).astype('>i2')
case('big_endian_int16', 'big_endian.nrrd', d,
     spatial_header('left-posterior-superior', np.diag([1.0, 1.0, 1.0]), [0, 0, 0], 'raw'))
d = rng.standard_normal((4, 5, 3, 2)).astype(np.float32)
sd = np.vstack([np.diag([2.0, 2.0, 2.0]), np.full(3, np.nan)])
case('four_d_list_last', 'four_d.nrrd', d,
     spatial_header('left-posterior-superior', sd, [5, 6, 7], 'gzip', ['domain', 'domain', 'domain', 'list']))
d = rng.integers(-500, 500, size=(3, 4, 5, 6)).astype(np.int16)
sd = np.vstack([np.full(3, np.nan), rotation(0.1, 0.2, 0.3).T * 1.5])
case('vector_first', 'vector_first.nrrd', d,
     spatial_header('left-posterior-superior', sd, [-1, -2, -3], 'raw', ['vector', 'domain', 'domain', 'domain']))
d = rng.integers(-2000, 2000, size=(7, 6, 5)).astype(np.int16)
case('detached_gzip', 'detached.nhdr', d,
     spatial_header('left-posterior-superior', np.diag([0.5, 0.6, 0.7]), [3, 2, 1], 'gzip'), detached=True)
d = rng.integers(0, 200, size=(3, 4, 2)).astype(np.uint8)
case('ascii_uint8', 'ascii.nrrd', d,
     spatial_header('RAS', np.diag([1.0, 2.0, 3.0]), [0, 0, 0], 'ascii'))
print(json.dumps(cases))
"#;

/// Runs the script with `args`; `None` (the test skips) when python3 or pynrrd is missing.
fn python(dir: &Path, args: &[&str]) -> Option<Value> {
    let script = dir.join("nrrd_reference.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let probe = Command::new("python3").args(["-c", "import nrrd, numpy"]).output();
    if !probe.map(|o| o.status.success()).unwrap_or(false) {
        common::skip("needs python3 with pynrrd", "run scripts/setup.sh readers");
        return None;
    }
    let out = Command::new("python3").arg(&script).args(args).output().expect("python3 runs");
    assert!(out.status.success(), "the pynrrd script failed: {}", String::from_utf8_lossy(&out.stderr));
    Some(serde_json::from_slice(&out.stdout).expect("the script prints JSON"))
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn same(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// How medseg's reading of `bytes` differs from pynrrd's (`expected`), one line each.
fn mismatches(name: &str, volume: Result<medseg::Volume, ReadError>, expected: &Value) -> Vec<String> {
    let volume = match volume {
        Ok(v) => v,
        Err(e) => return vec![format!("{name}: does not open: {e}")],
    };
    let mut failures = Vec::new();
    let dims: Vec<usize> = numbers(&expected["dims"]).iter().map(|&d| d as usize).collect();
    if volume.dims != dims {
        failures.push(format!("{name}: dims {:?}, pynrrd {dims:?}", volume.dims));
    }
    if expected["datatype"] != volume.datatype.name() {
        failures.push(format!("{name}: datatype {}, pynrrd {}", volume.datatype.name(), expected["datatype"]));
    }
    let affine = volume.geometry.affine;
    for r in 0..4 {
        for c in 0..4 {
            let want = expected["affine"][r][c].as_f64().unwrap();
            if (affine[r][c] - want).abs() > 1e-6 {
                failures.push(format!("{name}: affine[{r}][{c}] is {}, pynrrd header gives {want}", affine[r][c]));
            }
        }
    }
    let values = numbers(&expected["values"]);
    if values.len() != volume.voxels.len() {
        failures.push(format!("{name}: {} voxels, pynrrd {}", volume.voxels.len(), values.len()));
        return failures;
    }
    let wrong: Vec<usize> = (0..values.len()).filter(|&i| !same(volume.voxels.get_f64(i), values[i])).collect();
    if let Some(&i) = wrong.first() {
        failures.push(format!(
            "{name}: {} voxel values differ, first at {i}: {} vs pynrrd {}",
            wrong.len(),
            volume.voxels.get_f64(i),
            values[i]
        ));
    }
    failures
}

#[test]
fn pynrrd_files_read_the_same() {
    let dir = TempDir::new("read");
    let Some(cases) = python(&dir.0, &[dir.0.to_str().unwrap()]) else { return };
    let cases = cases.as_array().unwrap();
    assert_eq!(cases.len(), 8);
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let bytes = std::fs::read(dir.0.join(case["file"].as_str().unwrap())).unwrap();
        let volume = match case["data_file"].as_str() {
            Some(data_file) => {
                assert!(name.starts_with("detached"));
                assert!(data_file.ends_with(".raw.gz"), "{data_file}");
                let data = std::fs::read(dir.0.join(data_file)).unwrap();
                read_nrrd_detached(&bytes, &data, ReadLimits::default())
            }
            None => read_nrrd(&bytes, ReadLimits::default()),
        };
        failures.extend(mismatches(name, volume, case));
    }
    // Other spellings of the same type read the same.
    let lps = cases.iter().find(|c| c["name"] == "lps_raw_int16").unwrap();
    let bytes = std::fs::read(dir.0.join("lps_raw.nrrd")).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let type_line = format!("type: {}\n", lps["type"].as_str().unwrap());
    assert!(text.contains(&type_line), "{type_line}");
    for spelling in ["int16", "int16_t", "signed short int", "short"] {
        let renamed = replace_once(&bytes, type_line.as_bytes(), format!("type: {spelling}\n").as_bytes());
        failures.extend(mismatches(spelling, read_nrrd(&renamed, ReadLimits::default()), lps));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn replace_once(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = bytes.windows(from.len()).position(|w| w == from).expect("text to replace");
    [&bytes[..at], to, &bytes[at + from.len()..]].concat()
}

#[test]
fn broken_files_are_refused_with_a_reason() {
    let dir = TempDir::new("bad");
    let Some(cases) = python(&dir.0, &[dir.0.to_str().unwrap()]) else { return };
    let lps = cases.as_array().unwrap().iter().find(|c| c["name"] == "lps_raw_int16").unwrap();
    let type_line = format!("type: {}\n", lps["type"].as_str().unwrap());
    let limits = ReadLimits::default();
    let raw = std::fs::read(dir.0.join("lps_raw.nrrd")).unwrap();
    let message = read_nrrd(&raw[..raw.len() - 100], limits).unwrap_err().to_string();
    assert!(
        message.contains("shorter than the header says") && message.contains("need 420 bytes"),
        "truncated raw: {message}"
    );
    let gz = std::fs::read(dir.0.join("ras_gzip.nrrd")).unwrap();
    let message = read_nrrd(&gz[..gz.len() - 40], limits).unwrap_err().to_string();
    assert!(message.contains("gzip stream is truncated"), "truncated gzip: {message}");
    let header = std::fs::read(dir.0.join("detached.nhdr")).unwrap();
    let data = std::fs::read(dir.0.join("detached.raw.gz")).unwrap();
    let message = read_nrrd_detached(&header, &data[..data.len() / 2], limits).unwrap_err().to_string();
    assert!(message.contains("gzip stream is truncated"), "truncated detached data: {message}");
    let unknown = replace_once(&raw, type_line.as_bytes(), b"type: quaternion\n");
    let message = read_nrrd(&unknown, limits).unwrap_err().to_string();
    assert!(
        message.contains("invalid header field type") && message.contains("\"quaternion\""),
        "unknown type: {message}"
    );
    let bzip = replace_once(&gz, b"encoding: gzip\n", b"encoding: bzip2\n");
    let message = read_nrrd(&bzip, limits).unwrap_err().to_string();
    assert!(
        message.contains("invalid header field encoding")
            && message.contains("bzip2")
            && message.contains("not supported"),
        "bzip2: {message}"
    );
    let hex = replace_once(&gz, b"encoding: gzip\n", b"encoding: hex\n");
    let message = read_nrrd(&hex, limits).unwrap_err().to_string();
    assert!(message.contains("\"hex\"") && message.contains("expected raw, gzip or ascii"), "hex: {message}");
}

#[test]
fn seg_nrrd_reads_back_in_pynrrd() {
    let dir = TempDir::new("seg");
    let shape = [6, 5, 4];
    let labels: Vec<u16> = (0..120).map(|i: u16| if i.is_multiple_of(7) { 0 } else { i % 4 }).collect();
    let affine: Affine =
        [[-0.8, 0.1, 0.0, 12.5], [0.05, 0.9, 0.2, -40.25], [0.0, -0.1, 2.5, 7.0], [0.0, 0.0, 0.0, 1.0]];
    let table = vec![(1, "liver".to_string(), [221, 130, 101]), (2, "left kidney".to_string(), [185, 102, 83])];
    let path = dir.0.join("labels.seg.nrrd");
    std::fs::write(&path, write_seg_nrrd(&labels, shape, &affine, &table)).unwrap();
    let Some(read) = python(&dir.0, &["read", path.to_str().unwrap()]) else { return };
    assert_eq!(read["space"], "left-posterior-superior");
    assert_eq!(read["datatype"], "uint8");
    assert_eq!(numbers(&read["dims"]), vec![6.0, 5.0, 4.0]);
    let values = numbers(&read["values"]);
    assert!(labels.iter().zip(&values).all(|(&a, &b)| f64::from(a) == b), "values differ");
    for r in 0..4 {
        for c in 0..4 {
            let got = read["affine"][r][c].as_f64().unwrap();
            assert!((got - affine[r][c]).abs() <= 1e-9, "affine[{r}][{c}]: pynrrd {got}, written {}", affine[r][c]);
        }
    }
    let segments = &read["segments"];
    assert_eq!(segments["Segment0_Name"], "liver");
    assert_eq!(segments["Segment0_LabelValue"], "1");
    assert_eq!(segments["Segment0_ID"], "Segment_1");
    assert_eq!(segments["Segment0_Layer"], "0");
    assert_eq!(segments["Segment0_Color"], "0.866667 0.509804 0.396078");
    assert_eq!(segments["Segment1_Name"], "left kidney");
    // Label 3 is in the data but not the table: it gets a segment of its own.
    assert_eq!(segments["Segment2_Name"], "Label 3");
    assert_eq!(segments["Segment2_LabelValue"], "3");
    let ijk = |i: usize| [i % 6, i / 6 % 5, i / 30];
    let ones: Vec<[usize; 3]> = (0..120).filter(|&i| labels[i] == 1).map(ijk).collect();
    let extent: Vec<String> = (0..3)
        .flat_map(|a| [ones.iter().map(|p| p[a]).min().unwrap(), ones.iter().map(|p| p[a]).max().unwrap()])
        .map(|v| v.to_string())
        .collect();
    assert_eq!(segments["Segment0_Extent"], extent.join(" ").as_str());
    assert_eq!(segments["Segmentation_MasterRepresentation"], "Binary labelmap");
    assert_eq!(segments["Segmentation_ContainedRepresentationNames"], "Binary labelmap|");
    assert_eq!(segments["Segmentation_ReferenceImageExtentOffset"], "0 0 0");

    // Labels above 255 are written as unsigned short.
    let wide: Vec<u16> = labels.iter().map(|&v| v * 300).collect();
    let path = dir.0.join("wide.seg.nrrd");
    std::fs::write(&path, write_seg_nrrd(&wide, shape, &affine, &[])).unwrap();
    let read = python(&dir.0, &["read", path.to_str().unwrap()]).unwrap();
    assert_eq!(read["datatype"], "uint16");
    assert!(wide.iter().zip(&numbers(&read["values"])).all(|(&a, &b)| f64::from(a) == b), "wide values differ");
}
