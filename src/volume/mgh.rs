//! FreeSurfer MGH (`.mgh`) and gzipped MGH (`.mgz`) volumes, read exactly as nibabel 5.4.2's
//! `MGHImage` reads them (dims, voxel type, affine), and label maps written as `.mgz`.
//!
//! Layout (big-endian): version (int32, 1), width, height, depth, nframes (int32), type (int32),
//! dof (int32), goodRASflag (int16), xsize, ysize, zsize (float32), Mdc (9 float32: the x, y and z
//! voxel axes' direction cosines, each as r, a, s), c_ras (3 float32); the voxels start at byte
//! 284, x fastest, frames last; optional scan parameters and tags follow them.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;

use super::error::ReadError;
use super::geometry::{Affine, AffineSource, Geometry};
use super::nifti_read::{within_budget, ReadLimits, Stream};
use super::scan::{ScanFormat, Volume};
use super::voxels::Datatype;

/// Byte where the voxel data starts.
const DATA_OFFSET: usize = 284;
/// Bytes of the header fields that are read (up to and including c_ras).
const HEADER_FIELDS_BYTES: usize = 90;
/// What the affine is derived from.
const SOURCE: AffineSource = AffineSource::Format("MGH direction cosines, c_ras and voxel sizes");
/// nibabel's direction cosines when goodRASflag is 0, as stored in the file (one row per voxel
/// axis: its r, a, s).
const DEFAULT_MDC: [[f32; 3]; 3] = [[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]];
/// MGH voxel type codes.
const MRI_UCHAR: i32 = 0;
const MRI_INT: i32 = 1;
const MRI_FLOAT: i32 = 3;
const MRI_SHORT: i32 = 4;
const MRI_USHRT: i32 = 10;

/// Reads a FreeSurfer `.mgh` volume, or a gzipped one (`.mgz`, recognised by its gzip magic),
/// from its bytes. Dims, voxel values (in their stored type) and affine equal nibabel's
/// `MGHImage`; the header is checked against `limits` before any voxel is read.
pub fn read_mgh(bytes: &[u8], limits: ReadLimits) -> Result<Volume, ReadError> {
    let mut stream = Stream::open(bytes)?;
    let mut header = [0u8; DATA_OFFSET];
    let got = stream.fill(&mut header)?;
    let parsed = Header::parse(&header[..got], stream.what)?;
    let mut notes = Vec::new();
    let datatype = parsed.datatype()?;
    let data_bytes = within_budget(&parsed.dims.map(i64::from), datatype, limits)?;
    let affine = parsed.affine(&mut notes)?;
    if got < DATA_OFFSET {
        return Err(ReadError::MghDataTooShort { expected: data_bytes, got: 0 });
    }
    let voxels = stream.read_voxels(data_bytes, datatype, true).map_err(|e| match e {
        ReadError::DataTooShort { expected, got } => ReadError::MghDataTooShort { expected, got },
        other => other,
    })?;
    // The scan parameters and tags after the data are not needed; for gzip this still verifies
    // the checksum.
    stream.finish()?;
    let [width, height, depth, frames] = parsed.dims.map(|d| d as usize);
    let mut dims = vec![width, height, depth];
    if frames > 1 {
        dims.push(frames);
    }
    Ok(Volume {
        dims,
        datatype,
        voxels,
        scaling: None,
        geometry: Geometry::from_affine(affine, SOURCE),
        description: String::new(),
        notes,
        format: ScanFormat::Mgh,
    })
}

/// The fixed header fields, decoded but not yet checked beyond version and dims.
#[derive(Debug)]
struct Header {
    /// width, height, depth, nframes; each ≥ 1.
    dims: [i32; 4],
    type_code: i32,
    good_ras_flag: i16,
    delta: [f32; 3],
    /// One row per voxel axis: its direction cosines r, a, s (as stored).
    mdc: [[f32; 3]; 3],
    c_ras: [f32; 3],
}

impl Header {
    fn parse(buf: &[u8], what: &'static str) -> Result<Header, ReadError> {
        let i32_at = |o: usize| i32::from_be_bytes([buf[o], buf[o + 1], buf[o + 2], buf[o + 3]]);
        let f32_at = |o: usize| f32::from_be_bytes([buf[o], buf[o + 1], buf[o + 2], buf[o + 3]]);
        if buf.len() >= 4 {
            let version = i32_at(0);
            if version != 1 {
                let inside = if what == "file" { "" } else { " (inside the gzip stream)" };
                return Err(ReadError::InvalidField {
                    field: "version".into(),
                    problem: format!(
                        "is {version} (first 4 bytes, big-endian{inside}), expected 1: this is not an MGH/MGZ volume"
                    ),
                });
            }
        }
        if buf.len() < HEADER_FIELDS_BYTES {
            return Err(ReadError::TruncatedMghHeader { what, got: buf.len() });
        }
        let dims: [i32; 4] = std::array::from_fn(|i| i32_at(4 + 4 * i));
        for (name, &d) in ["width", "height", "depth", "nframes"].iter().zip(&dims) {
            if d < 1 {
                return Err(ReadError::InvalidField {
                    field: (*name).into(),
                    problem: format!("is {d}, expected a size of at least 1"),
                });
            }
        }
        Ok(Header {
            dims,
            type_code: i32_at(20),
            good_ras_flag: i16::from_be_bytes([buf[28], buf[29]]),
            delta: std::array::from_fn(|i| f32_at(30 + 4 * i)),
            mdc: std::array::from_fn(|axis| std::array::from_fn(|c| f32_at(42 + 12 * axis + 4 * c))),
            c_ras: std::array::from_fn(|i| f32_at(78 + 4 * i)),
        })
    }

    fn datatype(&self) -> Result<Datatype, ReadError> {
        Ok(match self.type_code {
            MRI_UCHAR => Datatype::U8,
            MRI_INT => Datatype::I32,
            MRI_FLOAT => Datatype::F32,
            MRI_SHORT => Datatype::I16,
            MRI_USHRT => Datatype::U16,
            other => return Err(ReadError::UnknownMghType(other)),
        })
    }

    /// nibabel's `MGHHeader.get_affine()`, including its float32 rounding: the linear part is
    /// `Mdc.T * delta` in float32, the translation `c_ras - M @ dims[:3] / 2` in float64, and the
    /// result is stored as float32.
    fn affine(&self, notes: &mut Vec<String>) -> Result<Affine, ReadError> {
        let (delta, mdc, c_ras) = if self.good_ras_flag == 0 {
            notes.push(
                "goodRASflag is 0 (no orientation in the file): nibabel's default geometry assumed \
                 (1 mm voxels, axes L, S, P, centred on the origin)"
                    .into(),
            );
            ([1.0; 3], DEFAULT_MDC, [0.0; 3])
        } else {
            if self.good_ras_flag < 0 {
                notes.push(format!(
                    "goodRASflag is {}: the voxel sizes, direction cosines and c_ras were used anyway, as nibabel does",
                    self.good_ras_flag
                ));
            }
            (self.delta, self.mdc, self.c_ras)
        };
        let fields = [
            ("xsize/ysize/zsize", delta.iter().all(|v| v.is_finite())),
            ("Mdc (direction cosines)", mdc.iter().flatten().all(|v| v.is_finite())),
            ("c_ras", c_ras.iter().all(|v| v.is_finite())),
        ];
        if let Some((field, _)) = fields.iter().find(|(_, finite)| !finite) {
            return Err(ReadError::NonFinite { field: (*field).into() });
        }
        let m: [[f32; 3]; 3] = std::array::from_fn(|r| std::array::from_fn(|c| mdc[c][r] * delta[c]));
        let mut affine = [[0.0, 0.0, 0.0, 1.0]; 4];
        for ((row, m_row), c_ras) in affine.iter_mut().zip(&m).zip(c_ras) {
            let centre = m_row.iter().zip(&self.dims).map(|(&v, &d)| f64::from(v) * f64::from(d)).sum::<f64>() / 2.0;
            *row = [
                f64::from(m_row[0]),
                f64::from(m_row[1]),
                f64::from(m_row[2]),
                f64::from((f64::from(c_ras) - centre) as f32),
            ];
        }
        if affine.iter().flatten().any(|v| !v.is_finite()) {
            return Err(ReadError::NonFinite { field: "xsize/ysize/zsize, Mdc and c_ras (their product)".into() });
        }
        Ok(affine)
    }
}

/// Encodes a label map (x fastest, `shape` voxels) as a gzipped `.mgz`: type uchar when every label
/// is ≤ 255, else int32 (MGH has no uint16 readers agree on; FreeSurfer's aseg is int32), with the
/// voxel sizes, direction cosines and c_ras that reproduce `affine` (RAS, mm).
pub fn write_mgh_label_map(labels: &[u16], shape: [usize; 3], affine: &Affine) -> Vec<u8> {
    assert_eq!(labels.len(), shape.iter().product::<usize>(), "label count must match the shape");
    let wide = labels.iter().any(|&v| v > u16::from(u8::MAX));
    let mut bytes = header_bytes(&shape, if wide { MRI_INT } else { MRI_UCHAR }, affine);
    bytes.reserve(labels.len() * if wide { 4 } else { 1 } + 20);
    if wide {
        bytes.extend(labels.iter().flat_map(|&v| i32::from(v).to_be_bytes()));
    } else {
        bytes.extend(labels.iter().map(|&v| v as u8));
    }
    finish(bytes)
}

/// Encodes a whole scan (every frame) as a gzipped `.mgz`: uint8, int16, uint16, int32 and float32
/// voxels keep their type; any other type, or a scan with scaling, is written as float32 of the
/// scaled values. The geometry is the scan's affine in millimetres.
pub fn write_mgh(volume: &Volume) -> Vec<u8> {
    let kept = match (volume.voxels.held_datatype(), volume.scaling) {
        (Datatype::U8, None) => Some(MRI_UCHAR),
        (Datatype::I16, None) => Some(MRI_SHORT),
        (Datatype::U16, None) => Some(MRI_USHRT),
        (Datatype::I32, None) => Some(MRI_INT),
        (Datatype::F32, None) => Some(MRI_FLOAT),
        _ => None,
    };
    let mut bytes = header_bytes(&volume.dims, kept.unwrap_or(MRI_FLOAT), &volume.geometry.affine_mm());
    let n = volume.voxels.len();
    const CHUNK: usize = 1 << 22;
    for start in (0..n).step_by(CHUNK) {
        let range = start..(start + CHUNK).min(n);
        if kept.is_some() {
            // The held little-endian bytes, each voxel's bytes reversed to big-endian.
            let step = volume.voxels.held_datatype().bytes_per_voxel();
            bytes.extend(volume.voxels.le_bytes(range).chunks(step).flat_map(|v| v.iter().rev().copied()));
        } else {
            bytes.extend(volume.voxels.to_f32(range, volume.scaling).iter().flat_map(|v| v.to_be_bytes()));
        }
    }
    finish(bytes)
}

/// The 284-byte header: version 1, dims (frames from dims 4 and up), `type_code`, goodRASflag 1,
/// and the voxel sizes, direction cosines and c_ras that reproduce `affine`.
fn header_bytes(dims: &[usize], type_code: i32, affine: &Affine) -> Vec<u8> {
    let shape: [usize; 3] = std::array::from_fn(|i| dims.get(i).copied().unwrap_or(1));
    let frames: usize = dims.iter().skip(3).product();
    let mut bytes = vec![0u8; DATA_OFFSET];
    let mut put = |offset: usize, value: &[u8]| bytes[offset..offset + value.len()].copy_from_slice(value);
    put(0, &1i32.to_be_bytes());
    for (i, &side) in shape.iter().chain([&frames]).enumerate() {
        let side = i32::try_from(side).expect("an MGH side must fit int32");
        put(4 + 4 * i, &side.to_be_bytes());
    }
    put(20, &type_code.to_be_bytes());
    put(24, &0i32.to_be_bytes());
    put(28, &1i16.to_be_bytes());
    for axis in 0..3 {
        let column = [affine[0][axis], affine[1][axis], affine[2][axis]];
        let zoom = column.iter().map(|v| v * v).sum::<f64>().sqrt();
        // A zero column is reproduced by a zero voxel size along any direction.
        let direction = if zoom > 0.0 { column.map(|v| v / zoom) } else { DEFAULT_MDC[axis].map(f64::from) };
        put(30 + 4 * axis, &(zoom as f32).to_be_bytes());
        for (c, v) in direction.iter().enumerate() {
            put(42 + 12 * axis + 4 * c, &(*v as f32).to_be_bytes());
        }
    }
    let centre = shape.map(|s| s as f64 / 2.0);
    for (r, row) in affine.iter().take(3).enumerate() {
        let c_ras = row[3] + (0..3).map(|c| row[c] * centre[c]).sum::<f64>();
        put(78 + 4 * r, &(c_ras as f32).to_be_bytes());
    }
    bytes
}

/// Appends the optional scan parameters (TR, flip angle, TE, TI, FoV: unknown, zeros, as nibabel
/// writes them) and gzips.
fn finish(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes.extend([0u8; 20]);
    let mut encoder = GzEncoder::new(Vec::new(), Compression::new(6));
    encoder.write_all(&bytes).expect("writing to memory cannot fail");
    encoder.finish().expect("writing to memory cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::voxels::VoxelData;

    fn header(
        version: i32,
        dims: [i32; 4],
        type_code: i32,
        flag: i16,
        delta: [f32; 3],
        mdc: [[f32; 3]; 3],
        c_ras: [f32; 3],
    ) -> Vec<u8> {
        let mut h = vec![0u8; DATA_OFFSET];
        let mut put = |o: usize, v: &[u8]| h[o..o + v.len()].copy_from_slice(v);
        put(0, &version.to_be_bytes());
        for (i, d) in dims.iter().enumerate() {
            put(4 + 4 * i, &d.to_be_bytes());
        }
        put(20, &type_code.to_be_bytes());
        put(28, &flag.to_be_bytes());
        for i in 0..3 {
            put(30 + 4 * i, &delta[i].to_be_bytes());
            put(78 + 4 * i, &c_ras[i].to_be_bytes());
            for (c, v) in mdc[i].iter().enumerate() {
                put(42 + 12 * i + 4 * c, &v.to_be_bytes());
            }
        }
        h
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn limits() -> ReadLimits {
        ReadLimits { max_data_bytes: 1 << 30 }
    }

    const IDENTITY_MDC: [[f32; 3]; 3] = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];

    #[test]
    fn reads_int16_frames_and_affine() {
        let mdc = [[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]];
        let mut file = header(1, [2, 3, 1, 2], MRI_SHORT, 1, [2.0, 3.0, 4.0], mdc, [10.0, 20.0, 30.0]);
        for v in 0..12i16 {
            file.extend((v * 100 - 300).to_be_bytes());
        }
        file.extend([0u8; 20]);
        for bytes in [file.clone(), gzip(&file)] {
            let volume = read_mgh(&bytes, limits()).unwrap();
            assert_eq!(volume.dims, vec![2, 3, 1, 2]);
            assert_eq!(volume.datatype, Datatype::I16);
            assert_eq!(volume.voxels, VoxelData::I16((0..12).map(|v| v * 100 - 300).collect()));
            // M = Mdc.T * delta; t = c_ras - M @ dims / 2 with dims / 2 = (1, 1.5, 0.5).
            let expected = [[0.0, -3.0, 0.0, 14.5], [2.0, 0.0, 0.0, 18.0], [0.0, 0.0, 4.0, 28.0], [0.0, 0.0, 0.0, 1.0]];
            assert_eq!(volume.geometry.affine, expected);
            assert!(volume.notes.is_empty(), "{:?}", volume.notes);
        }
    }

    #[test]
    fn single_frame_is_3d_and_default_geometry_when_flag_is_zero() {
        let mut file = header(1, [4, 6, 8, 1], MRI_UCHAR, 0, [9.0; 3], IDENTITY_MDC, [5.0; 3]);
        file.extend((0..192).map(|v| v as u8));
        let volume = read_mgh(&file, limits()).unwrap();
        assert_eq!(volume.dims, vec![4, 6, 8]);
        // nibabel: MGHHeader().set_data_shape((4, 6, 8)); get_affine().
        let expected = [[-1.0, 0.0, 0.0, 2.0], [0.0, 0.0, -1.0, 4.0], [0.0, 1.0, 0.0, -3.0], [0.0, 0.0, 0.0, 1.0]];
        assert_eq!(volume.geometry.affine, expected);
        assert!(volume.notes[0].contains("goodRASflag is 0"), "{:?}", volume.notes);
    }

    #[test]
    fn int32_float32_and_uint16_types() {
        for (code, datatype, size) in
            [(MRI_INT, Datatype::I32, 4), (MRI_FLOAT, Datatype::F32, 4), (MRI_USHRT, Datatype::U16, 2)]
        {
            let mut file = header(1, [2, 1, 1, 1], code, 1, [1.0; 3], IDENTITY_MDC, [0.0; 3]);
            file.extend(vec![0u8; 2 * size]);
            let volume = read_mgh(&file, limits()).unwrap();
            assert_eq!(volume.datatype, datatype);
            assert_eq!(volume.voxels.len(), 2);
        }
    }

    #[test]
    fn affine_rounds_like_nibabel() {
        // Products that are inexact in float32 are rounded as numpy rounds them.
        let delta = [0.1f32, 0.7, 1.3];
        let mdc = [[0.6, 0.8, 0.0], [-0.8, 0.6, 0.0], [0.0, 0.0, 1.0]];
        let file = header(1, [3, 5, 7, 1], MRI_UCHAR, 1, delta, mdc, [1.1, 2.2, 3.3]);
        let mut file = file;
        file.extend([0u8; 105]);
        let affine = read_mgh(&file, limits()).unwrap().geometry.affine;
        assert_eq!(affine[0][0], f64::from(0.6f32 * 0.1f32));
        assert_eq!(affine[1][1], f64::from(0.6f32 * 0.7f32));
        let centre = (f64::from(0.8f32 * 0.1f32) * 3.0 + f64::from(0.6f32 * 0.7f32) * 5.0) / 2.0;
        assert_eq!(affine[1][3], f64::from((f64::from(2.2f32) - centre) as f32));
    }

    #[test]
    fn label_map_round_trip() {
        let affine = [[0.0, -1.2, 0.0, 50.0], [0.8, 0.0, 0.6, -20.0], [-0.6, 0.0, 0.8, 7.5], [0.0, 0.0, 0.0, 1.0]];
        for max in [200u16, 3000] {
            let labels: Vec<u16> = (0..60).map(|v| (v * 37 % (max as usize + 1)) as u16).collect();
            let bytes = write_mgh_label_map(&labels, [3, 4, 5], &affine);
            assert_eq!(&bytes[..2], &[0x1f, 0x8b]);
            let volume = read_mgh(&bytes, limits()).unwrap();
            assert_eq!(volume.dims, vec![3, 4, 5]);
            let expected = if max > 255 { Datatype::I32 } else { Datatype::U8 };
            assert_eq!(volume.datatype, expected);
            let values: Vec<u16> = (0..60).map(|i| volume.voxels.get_f64(i) as u16).collect();
            assert_eq!(values, labels);
            for (got, want) in volume.geometry.affine.iter().flatten().zip(affine.iter().flatten()) {
                assert!((got - want).abs() < 1e-4, "{:?} vs {affine:?}", volume.geometry.affine);
            }
        }
    }

    #[test]
    fn bad_version_type_and_dims() {
        let mut file = header(2, [1, 1, 1, 1], MRI_UCHAR, 1, [1.0; 3], IDENTITY_MDC, [0.0; 3]);
        file.push(0);
        let error = read_mgh(&file, limits()).unwrap_err().to_string();
        assert!(error.contains("version: is 2") && error.contains("expected 1"), "{error}");
        let error = read_mgh(&gzip(&file), limits()).unwrap_err().to_string();
        assert!(error.contains("inside the gzip stream"), "{error}");

        let mut file = header(1, [1, 1, 1, 1], 7, 1, [1.0; 3], IDENTITY_MDC, [0.0; 3]);
        file.push(0);
        assert_eq!(read_mgh(&file, limits()).unwrap_err(), ReadError::UnknownMghType(7));
        assert!(ReadError::UnknownMghType(7).to_string().contains("unknown code 7"));

        let file = header(1, [1, 0, 1, 1], MRI_UCHAR, 1, [1.0; 3], IDENTITY_MDC, [0.0; 3]);
        let error = read_mgh(&file, limits()).unwrap_err().to_string();
        assert!(error.contains("height: is 0, expected a size of at least 1"), "{error}");
    }

    #[test]
    fn truncated_header_and_data() {
        let file = header(1, [4, 4, 4, 1], MRI_FLOAT, 1, [1.0; 3], IDENTITY_MDC, [0.0; 3]);
        assert_eq!(
            read_mgh(&file[..50], limits()).unwrap_err(),
            ReadError::TruncatedMghHeader { what: "file", got: 50 }
        );
        assert_eq!(read_mgh(&file[..200], limits()).unwrap_err(), ReadError::MghDataTooShort { expected: 256, got: 0 });
        let mut short = file.clone();
        short.extend([0u8; 100]);
        assert_eq!(read_mgh(&short, limits()).unwrap_err(), ReadError::MghDataTooShort { expected: 256, got: 100 });
        let gz = gzip(&short);
        assert_eq!(read_mgh(&gz, limits()).unwrap_err(), ReadError::MghDataTooShort { expected: 256, got: 100 });
        assert_eq!(read_mgh(&gz[..gz.len() - 10], limits()).unwrap_err(), ReadError::TruncatedGzip);
        assert_eq!(read_mgh(&[], limits()).unwrap_err(), ReadError::Empty);
    }

    #[test]
    fn huge_dims_fail_the_budget_before_reading() {
        let file =
            gzip(&header(1, [i32::MAX, i32::MAX, i32::MAX, i32::MAX], MRI_FLOAT, 1, [1.0; 3], IDENTITY_MDC, [0.0; 3]));
        let error = read_mgh(&file, limits()).unwrap_err();
        assert!(matches!(error, ReadError::TooLarge(_)), "{error:?}");
        // Within the budget but absent: the error comes from the data, with no allocation of the
        // claimed size (bounded by the compressed length).
        let file = gzip(&header(1, [512, 512, 512, 1], MRI_FLOAT, 1, [1.0; 3], IDENTITY_MDC, [0.0; 3]));
        let error = read_mgh(&file, ReadLimits { max_data_bytes: 1 << 31 }).unwrap_err();
        assert_eq!(error, ReadError::MghDataTooShort { expected: 512 * 512 * 512 * 4, got: 0 });
    }

    #[test]
    fn non_finite_geometry_is_named() {
        let mut file = header(1, [1, 1, 1, 1], MRI_UCHAR, 1, [1.0, f32::NAN, 1.0], IDENTITY_MDC, [0.0; 3]);
        file.push(0);
        assert_eq!(read_mgh(&file, limits()).unwrap_err(), ReadError::NonFinite { field: "xsize/ysize/zsize".into() });
    }
}
