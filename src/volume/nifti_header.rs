//! The fields of a NIfTI-1 (348-byte) or NIfTI-2 (540-byte) header as one [`RawHeader`]: NIfTI-2
//! holds the same fields at 64 bits (dims as int64, the rest as double) at other offsets. Nothing
//! here is validated; `nifti_read` checks every field before trusting it.

use nifti::NiftiHeader;

use super::error::ReadError;

/// Size of a NIfTI-1 header.
pub(crate) const NIFTI1_BYTES: usize = 348;
/// Size of a NIfTI-2 header.
pub(crate) const NIFTI2_BYTES: usize = 540;

/// Which NIfTI version a header is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    /// 348-byte header, magic "n+1" / "ni1".
    One,
    /// 540-byte header, magic "n+2" / "ni2".
    Two,
}

/// A header's fields, widened to NIfTI-2's types.
#[derive(Clone, Debug)]
pub(crate) struct RawHeader {
    pub version: Version,
    /// True for a single file ("n+1" / "n+2"), false for a `.hdr` of a pair ("ni1" / "ni2").
    pub single_file: bool,
    pub big_endian: bool,
    pub dim: [i64; 8],
    pub datatype: i16,
    pub pixdim: [f64; 8],
    pub vox_offset: f64,
    pub scl_slope: f64,
    pub scl_inter: f64,
    pub qform_code: i32,
    pub sform_code: i32,
    pub quatern: [f64; 3],
    pub qoffset: [f64; 3],
    pub srow: [[f64; 4]; 3],
    pub xyzt_units: u8,
    pub intent_code: i32,
    pub descrip: Vec<u8>,
}

/// The version a header's first four bytes (`sizeof_hdr`, either byte order) announce, if any.
pub(crate) fn version_of(first4: [u8; 4]) -> Option<Version> {
    let (le, be) = (i32::from_le_bytes(first4), i32::from_be_bytes(first4));
    if le == NIFTI1_BYTES as i32 || be == NIFTI1_BYTES as i32 {
        Some(Version::One)
    } else if le == NIFTI2_BYTES as i32 || be == NIFTI2_BYTES as i32 {
        Some(Version::Two)
    } else {
        None
    }
}

/// Parses a NIfTI-1 header (`buf` holds its 348 bytes).
pub(crate) fn parse_nifti1(buf: &[u8]) -> Result<RawHeader, ReadError> {
    let magic = &buf[344..348];
    if magic != b"n+1\0" && magic != b"ni1\0" {
        return Err(ReadError::BadMagic { found: magic.escape_ascii().to_string() });
    }
    let h = NiftiHeader::from_reader(buf)
        .map_err(|e| ReadError::InvalidField { field: "header".into(), problem: e.to_string() })?;
    // The nifti crate stores dims as u16; NIfTI-1 defines them as int16.
    Ok(RawHeader {
        version: Version::One,
        single_file: magic == b"n+1\0",
        big_endian: h.endianness == nifti::Endianness::Big,
        dim: h.dim.map(|d| i64::from(d as i16)),
        datatype: h.datatype,
        pixdim: h.pixdim.map(f64::from),
        vox_offset: f64::from(h.vox_offset),
        scl_slope: f64::from(h.scl_slope),
        scl_inter: f64::from(h.scl_inter),
        qform_code: i32::from(h.qform_code),
        sform_code: i32::from(h.sform_code),
        quatern: [h.quatern_b, h.quatern_c, h.quatern_d].map(f64::from),
        qoffset: [h.quatern_x, h.quatern_y, h.quatern_z].map(f64::from),
        srow: [h.srow_x, h.srow_y, h.srow_z].map(|r| r.map(f64::from)),
        xyzt_units: h.xyzt_units,
        intent_code: i32::from(h.intent_code),
        descrip: h.descrip.clone(),
    })
}

/// Parses a NIfTI-2 header (`buf` holds its 540 bytes).
pub(crate) fn parse_nifti2(buf: &[u8]) -> Result<RawHeader, ReadError> {
    let magic = &buf[4..12];
    let single_file = match &magic[..4] {
        b"n+2\0" => true,
        b"ni2\0" => false,
        _ => {
            return Err(ReadError::InvalidField {
                field: "magic (bytes 4–11)".into(),
                problem: format!(
                    "is {:?}, expected \"n+2\" (single file) or \"ni2\" (.hdr/.img pair) for a 540-byte NIfTI-2 header",
                    magic.escape_ascii().to_string()
                ),
            })
        }
    };
    if magic[4..] != [b'\r', b'\n', 0x1a, b'\n'] {
        return Err(ReadError::InvalidField {
            field: "magic (bytes 8–11)".into(),
            problem: "is not \\r\\n\\x1a\\n: the file was probably altered by a text-mode transfer".into(),
        });
    }
    let big_endian = i32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) != NIFTI2_BYTES as i32;
    let field = |offset: usize, len: usize| -> [u8; 8] {
        let mut b = [0u8; 8];
        b[..len].copy_from_slice(&buf[offset..offset + len]);
        if big_endian {
            b[..len].reverse();
        }
        b
    };
    let i16_at = |o: usize| i16::from_le_bytes(field(o, 2)[..2].try_into().unwrap());
    let i32_at = |o: usize| i32::from_le_bytes(field(o, 4)[..4].try_into().unwrap());
    let i64_at = |o: usize| i64::from_le_bytes(field(o, 8));
    let f64_at = |o: usize| f64::from_le_bytes(field(o, 8));
    Ok(RawHeader {
        version: Version::Two,
        single_file,
        big_endian,
        dim: std::array::from_fn(|i| i64_at(16 + 8 * i)),
        datatype: i16_at(12),
        pixdim: std::array::from_fn(|i| f64_at(104 + 8 * i)),
        vox_offset: i64_at(168) as f64,
        scl_slope: f64_at(176),
        scl_inter: f64_at(184),
        qform_code: i32_at(344),
        sform_code: i32_at(348),
        quatern: std::array::from_fn(|i| f64_at(352 + 8 * i)),
        qoffset: std::array::from_fn(|i| f64_at(376 + 8 * i)),
        srow: std::array::from_fn(|r| std::array::from_fn(|c| f64_at(400 + 32 * r + 8 * c))),
        xyzt_units: i32_at(500) as u8,
        intent_code: i32_at(504),
        descrip: buf[240..320].to_vec(),
    })
}
