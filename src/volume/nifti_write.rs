//! Writing NIfTI as `.nii.gz` bytes in memory: label maps carrying their source scan's geometry
//! verbatim, and whole scans (`medseg convert`). NIfTI-1 unless a side exceeds its int16 dims (or
//! NIfTI-2 is asked for), then NIfTI-2 with the same fields at 64 bits.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;

use super::geometry::HeaderGeometry;
use super::scan::Volume;

/// NIFTI_INTENT_LABEL: voxel values are indices into a label table.
const INTENT_LABEL: i16 = 1002;

/// Which NIfTI version to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NiftiVersion {
    /// NIfTI-1 when every side fits its int16 dims, else NIfTI-2.
    Auto,
    /// NIfTI-2 always (e.g. because the input was NIfTI-2).
    Two,
}

/// The fields of a header to write.
struct HeaderFields<'a> {
    dims: &'a [usize],
    datatype: i16,
    bitpix: i16,
    intent: i16,
    scaling: Option<(f64, f64)>,
    cal_max: f64,
    descrip: &'a str,
    aux: &'a str,
    geometry: &'a HeaderGeometry,
}

/// Encodes a 3D label map (x fastest, `shape[0] × shape[1] × shape[2]` values) as `.nii.gz`.
///
/// The datatype is uint8 when every label is ≤ 255, else uint16. pixdim, qform and sform
/// (codes and parameters) and the spatial unit are copied unchanged from `geometry`, so the
/// result overlays its source scan exactly in any NIfTI reader. NIfTI-2 when a side exceeds
/// 32767 or `version` asks for it.
pub fn write_label_map(labels: &[u16], shape: [usize; 3], geometry: &HeaderGeometry, version: NiftiVersion) -> Vec<u8> {
    assert_eq!(labels.len(), shape.iter().product::<usize>(), "label count must match the shape");
    let max = labels.iter().copied().max().unwrap_or(0);
    let wide = max > u16::from(u8::MAX);
    let (datatype, bitpix) = if wide { (512, 16) } else { (2, 8) };
    let fields = HeaderFields {
        dims: &shape,
        datatype,
        bitpix,
        intent: INTENT_LABEL,
        scaling: None,
        cal_max: f64::from(max),
        descrip: "medseg label map",
        aux: "labels",
        geometry,
    };
    let mut bytes = header_bytes(&fields, version);
    bytes.reserve(labels.len() * if wide { 2 } else { 1 });
    if wide {
        bytes.extend(labels.iter().flat_map(|v| v.to_le_bytes()));
    } else {
        bytes.extend(labels.iter().map(|&v| v as u8));
    }
    gzip(&bytes)
}

/// Encodes a whole scan (every volume, in the type its voxels are held in, with its scaling and
/// geometry header) as `.nii.gz`.
pub fn write_nifti(volume: &Volume, version: NiftiVersion) -> Vec<u8> {
    let datatype = volume.voxels.held_datatype();
    let fields = HeaderFields {
        dims: &volume.dims,
        datatype: datatype.code(),
        bitpix: (datatype.bytes_per_voxel() * 8) as i16,
        intent: 0,
        scaling: volume.scaling,
        cal_max: 0.0,
        descrip: &volume.description,
        aux: "",
        geometry: &volume.geometry.header,
    };
    let mut encoder = GzEncoder::new(Vec::new(), Compression::new(6));
    encoder.write_all(&header_bytes(&fields, version)).expect("writing to memory cannot fail");
    // A few million voxels at a time: no second copy of the whole volume as bytes.
    const CHUNK: usize = 1 << 22;
    for start in (0..volume.voxels.len()).step_by(CHUNK) {
        let end = (start + CHUNK).min(volume.voxels.len());
        encoder.write_all(&volume.voxels.le_bytes(start..end)).expect("writing to memory cannot fail");
    }
    encoder.finish().expect("writing to memory cannot fail")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::new(6));
    encoder.write_all(bytes).expect("writing to memory cannot fail");
    encoder.finish().expect("writing to memory cannot fail")
}

/// The header (little-endian) and the 4-byte empty extension flag: NIfTI-1 (352 bytes) when
/// every side fits int16 and `version` allows, else NIfTI-2 (544 bytes).
fn header_bytes(f: &HeaderFields, version: NiftiVersion) -> Vec<u8> {
    let fits = f.dims.iter().all(|&d| i16::try_from(d).is_ok());
    if fits && version == NiftiVersion::Auto {
        nifti1_header(f)
    } else {
        nifti2_header(f)
    }
}

/// A fixed-size header text field: `text` cut to fit, NUL-padded.
fn text_bytes(text: &str, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let bytes = text.as_bytes();
    let n = bytes.len().min(len - 1);
    out[..n].copy_from_slice(&bytes[..n]);
    out
}

fn nifti1_header(f: &HeaderFields) -> Vec<u8> {
    let g = f.geometry;
    let mut h = vec![0u8; 352];
    let mut put = |offset: usize, bytes: &[u8]| h[offset..offset + bytes.len()].copy_from_slice(bytes);
    put(0, &348i32.to_le_bytes());
    put(38, b"r");
    put(40, &(f.dims.len() as i16).to_le_bytes());
    for i in 0..7 {
        let d = f.dims.get(i).map_or(1, |&d| i16::try_from(d).expect("header_bytes chose NIfTI-1 for int16 sides"));
        put(42 + 2 * i, &d.to_le_bytes());
    }
    put(68, &f.intent.to_le_bytes());
    put(70, &f.datatype.to_le_bytes());
    put(72, &f.bitpix.to_le_bytes());
    for (i, p) in g.pixdim.iter().enumerate().take(f.dims.len().max(3) + 1) {
        put(76 + 4 * i, &p.to_le_bytes());
    }
    put(108, &352f32.to_le_bytes());
    let (slope, inter) = f.scaling.unwrap_or((1.0, 0.0));
    put(112, &(slope as f32).to_le_bytes());
    put(116, &(inter as f32).to_le_bytes());
    put(123, &[g.xyzt_units & 0x07]);
    put(124, &(f.cal_max as f32).to_le_bytes());
    put(148, &text_bytes(f.descrip, 80));
    put(228, &text_bytes(f.aux, 24));
    put(252, &g.qform_code.to_le_bytes());
    put(254, &g.sform_code.to_le_bytes());
    let quaternion = [g.quatern[0], g.quatern[1], g.quatern[2], g.qoffset[0], g.qoffset[1], g.qoffset[2]];
    for (i, v) in quaternion.iter().enumerate() {
        put(256 + 4 * i, &v.to_le_bytes());
    }
    for (row, values) in g.srow.iter().enumerate() {
        for (i, v) in values.iter().enumerate() {
            put(280 + 16 * row + 4 * i, &v.to_le_bytes());
        }
    }
    put(344, b"n+1\0");
    h
}

fn nifti2_header(f: &HeaderFields) -> Vec<u8> {
    let g = f.geometry;
    let mut h = vec![0u8; 544];
    let mut put = |offset: usize, bytes: &[u8]| h[offset..offset + bytes.len()].copy_from_slice(bytes);
    put(0, &540i32.to_le_bytes());
    put(4, b"n+2\0\r\n\x1a\n");
    put(12, &f.datatype.to_le_bytes());
    put(14, &f.bitpix.to_le_bytes());
    put(16, &(f.dims.len() as i64).to_le_bytes());
    for i in 0..7 {
        put(24 + 8 * i, &(f.dims.get(i).copied().unwrap_or(1) as i64).to_le_bytes());
    }
    for (i, p) in g.pixdim.iter().enumerate().take(f.dims.len().max(3) + 1) {
        put(104 + 8 * i, &f64::from(*p).to_le_bytes());
    }
    put(168, &544i64.to_le_bytes());
    let (slope, inter) = f.scaling.unwrap_or((1.0, 0.0));
    put(176, &slope.to_le_bytes());
    put(184, &inter.to_le_bytes());
    put(192, &f.cal_max.to_le_bytes());
    put(240, &text_bytes(f.descrip, 80));
    put(320, &text_bytes(f.aux, 24));
    put(344, &i32::from(g.qform_code).to_le_bytes());
    put(348, &i32::from(g.sform_code).to_le_bytes());
    let quaternion = [g.quatern[0], g.quatern[1], g.quatern[2], g.qoffset[0], g.qoffset[1], g.qoffset[2]];
    for (i, v) in quaternion.iter().enumerate() {
        put(352 + 8 * i, &f64::from(*v).to_le_bytes());
    }
    for (row, values) in g.srow.iter().enumerate() {
        for (i, v) in values.iter().enumerate() {
            put(400 + 32 * row + 8 * i, &f64::from(*v).to_le_bytes());
        }
    }
    put(500, &i32::from(g.xyzt_units & 0x07).to_le_bytes());
    put(504, &i32::from(f.intent).to_le_bytes());
    h
}
