//! Writing label maps as `.nii.gz` bytes in memory, carrying the source scan's geometry verbatim.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;

use super::geometry::HeaderGeometry;

/// NIFTI_INTENT_LABEL: voxel values are indices into a label table.
const INTENT_LABEL: i16 = 1002;

/// Encodes a 3D label map (x fastest, `shape[0] × shape[1] × shape[2]` values) as `.nii.gz`.
///
/// The datatype is uint8 when every label is ≤ 255, else uint16. pixdim, qform and sform
/// (codes and parameters) and the spatial unit are copied unchanged from `geometry`, so the
/// result overlays its source scan exactly in any NIfTI reader.
pub fn write_label_map(
    labels: &[u16],
    shape: [usize; 3],
    geometry: &HeaderGeometry,
) -> Result<Vec<u8>, TooLargeForNifti1> {
    assert_eq!(labels.len(), shape.iter().product::<usize>(), "label count must match the shape");
    if shape.iter().any(|&side| i16::try_from(side).is_err()) {
        return Err(TooLargeForNifti1 { shape });
    }
    let max = labels.iter().copied().max().unwrap_or(0);
    let wide = max > u16::from(u8::MAX);
    let mut bytes = header_bytes(shape, geometry, wide, max);
    bytes.reserve(labels.len() * if wide { 2 } else { 1 });
    if wide {
        bytes.extend(labels.iter().flat_map(|v| v.to_le_bytes()));
    } else {
        bytes.extend(labels.iter().map(|&v| v as u8));
    }
    let mut encoder = GzEncoder::new(Vec::new(), Compression::new(6));
    encoder.write_all(&bytes).expect("writing to memory cannot fail");
    Ok(encoder.finish().expect("writing to memory cannot fail"))
}

/// A label map with a side longer than NIfTI-1's int16 dims can hold.
#[derive(Debug, thiserror::Error)]
#[error(
    "a label map of {}×{}×{} voxels cannot be written as NIfTI-1: each side must be at most 32767 (dims are int16)",
    shape[0], shape[1], shape[2]
)]
pub struct TooLargeForNifti1 {
    /// The label map's size.
    pub shape: [usize; 3],
}

/// The 348-byte NIfTI-1 header, little-endian, plus the 4-byte empty extension flag.
fn header_bytes(shape: [usize; 3], g: &HeaderGeometry, wide: bool, max_label: u16) -> Vec<u8> {
    let mut h = vec![0u8; 352];
    let mut put = |offset: usize, bytes: &[u8]| h[offset..offset + bytes.len()].copy_from_slice(bytes);
    put(0, &348i32.to_le_bytes());
    put(38, b"r");
    let dims = [3, shape[0], shape[1], shape[2], 1, 1, 1, 1];
    for (i, d) in dims.iter().enumerate() {
        let d = i16::try_from(*d).expect("write_label_map checked that every side fits i16");
        put(40 + 2 * i, &d.to_le_bytes());
    }
    put(68, &INTENT_LABEL.to_le_bytes());
    let (datatype, bitpix): (i16, i16) = if wide { (512, 16) } else { (2, 8) };
    put(70, &datatype.to_le_bytes());
    put(72, &bitpix.to_le_bytes());
    for (i, p) in g.pixdim.iter().enumerate().take(4) {
        put(76 + 4 * i, &p.to_le_bytes());
    }
    put(108, &352f32.to_le_bytes());
    put(112, &1f32.to_le_bytes());
    put(123, &[g.xyzt_units & 0x07]);
    put(124, &f32::from(max_label).to_le_bytes());
    put(148, b"medseg label map");
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
    put(328, b"labels");
    put(344, b"n+1\0");
    h
}
