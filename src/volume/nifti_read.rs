//! Reading NIfTI-1 and NIfTI-2 from bytes in memory: `.nii`, `.nii.gz`, and `.hdr` + `.img` pairs
//! (each optionally gzipped). Every field is checked before it is trusted; memory grows with the data
//! actually present, never with what the header claims.

use std::io::{self, Cursor, Read};

use flate2::read::MultiGzDecoder;

use super::budget::MemoryBudget;
use super::error::ReadError;
use super::geometry::{Geometry, HeaderGeometry};
use super::nifti_header::{parse_nifti1, parse_nifti2, version_of, RawHeader, Version, NIFTI1_BYTES, NIFTI2_BYTES};
use super::scan::{ScanFormat, Volume};
use super::voxels::{Datatype, VoxelData, VoxelDecoder};

/// Deflate cannot expand data by more than about 1032×; used to bound pre-allocation.
const MAX_DEFLATE_RATIO: u64 = 1100;
/// Bytes after the voxel data that are decompressed to verify the gzip checksum.
const MAX_TRAILING_BYTES: u64 = 64 << 20;

/// Bounds on what a header may ask for.
#[derive(Clone, Copy, Debug)]
pub struct ReadLimits {
    /// Largest voxel array accepted, in bytes: the data as stored and one 3D volume of it as
    /// float32 (what segmentation works on) must both fit.
    pub max_data_bytes: u64,
}

impl Default for ReadLimits {
    /// The memory budget in force ([`MemoryBudget::current`]).
    fn default() -> Self {
        ReadLimits { max_data_bytes: MemoryBudget::current().bytes }
    }
}

/// Reads a single-file NIfTI-1 or NIfTI-2 (`.nii` or `.nii.gz`) from its bytes.
pub fn read_nifti(bytes: &[u8], limits: ReadLimits) -> Result<Volume, ReadError> {
    let mut stream = Stream::open(bytes)?;
    let header = read_header(&mut stream)?;
    if !header.single_file {
        return Err(ReadError::WrongFileKind(format!(
            "this is the header of a .hdr/.img pair (magic \"{}\"): open it together with its .img file",
            if header.version == Version::One { "ni1" } else { "ni2" }
        )));
    }
    let checked = CheckedHeader::new(&header, limits)?;
    let mut notes = checked.notes.clone();
    let offset = checked.single_file_offset(&mut notes);
    stream.skip_to(offset)?;
    let voxels = stream.read_voxels(checked.data_bytes, checked.datatype, checked.big_endian)?;
    stream.finish()?;
    Ok(checked.into_volume(voxels, notes))
}

/// Reads an Analyze-style NIfTI-1 or NIfTI-2 pair: the `.hdr` bytes and the `.img` bytes (either
/// may be gzipped).
pub fn read_nifti_pair(hdr: &[u8], img: &[u8], limits: ReadLimits) -> Result<Volume, ReadError> {
    let mut hdr_stream = Stream::open(hdr)?;
    let header = read_header(&mut hdr_stream)?;
    if header.single_file {
        return Err(ReadError::WrongFileKind(format!(
            "the .hdr file is a single-file NIfTI (magic \"{}\"): open it on its own, without an .img",
            if header.version == Version::One { "n+1" } else { "n+2" }
        )));
    }
    let checked = CheckedHeader::new(&header, limits)?;
    let offset = checked.vox_offset;
    if img.is_empty() {
        return Err(ReadError::DataTooShort { expected: checked.data_bytes, got: 0 });
    }
    let mut img_stream = Stream::open(img)?;
    img_stream.what = if img_stream.gzipped { "decompressed image file" } else { "image file" };
    img_stream.skip_to(offset)?;
    let voxels = img_stream.read_voxels(checked.data_bytes, checked.datatype, checked.big_endian)?;
    img_stream.finish()?;
    let notes = checked.notes.clone();
    Ok(checked.into_volume(voxels, notes))
}

/// The bytes of a file, decompressed on the fly when gzipped, with errors named for the user.
pub(crate) struct Stream<'a> {
    reader: Box<dyn Read + 'a>,
    pub(crate) gzipped: bool,
    /// Compressed (or plain) length, to bound allocations.
    input_len: u64,
    /// Bytes consumed from the decompressed stream so far.
    position: u64,
    /// What the stream is called in messages.
    pub(crate) what: &'static str,
}

impl<'a> Stream<'a> {
    pub(crate) fn open(bytes: &'a [u8]) -> Result<Stream<'a>, ReadError> {
        if bytes.is_empty() {
            return Err(ReadError::Empty);
        }
        let gzipped = bytes.starts_with(&[0x1f, 0x8b]);
        let reader: Box<dyn Read + 'a> =
            if gzipped { Box::new(MultiGzDecoder::new(bytes)) } else { Box::new(Cursor::new(bytes)) };
        let what = if gzipped { "decompressed stream" } else { "file" };
        Ok(Stream { reader, gzipped, input_len: bytes.len() as u64, position: 0, what })
    }

    fn gzip_error(&self, e: io::Error) -> ReadError {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            ReadError::TruncatedGzip
        } else {
            ReadError::CorruptGzip(e.to_string())
        }
    }

    /// Reads until `buf` is full or the stream ends; returns the bytes read.
    pub(crate) fn fill(&mut self, buf: &mut [u8]) -> Result<usize, ReadError> {
        let mut got = 0;
        while got < buf.len() {
            match self.reader.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.gzip_error(e)),
            }
        }
        self.position += got as u64;
        Ok(got)
    }

    /// Discards bytes up to absolute position `offset`.
    pub(crate) fn skip_to(&mut self, offset: u64) -> Result<(), ReadError> {
        if !self.gzipped && offset > self.input_len {
            return Err(ReadError::VoxOffsetPastEnd { vox_offset: offset, what: self.what, len: self.input_len });
        }
        let mut scratch = [0u8; 8192];
        while self.position < offset {
            let want = (offset - self.position).min(scratch.len() as u64) as usize;
            if self.fill(&mut scratch[..want])? == 0 {
                return Err(ReadError::VoxOffsetPastEnd { vox_offset: offset, what: self.what, len: self.position });
            }
        }
        Ok(())
    }

    /// Reads and decodes exactly `expected` bytes of voxel data, allocating only as data arrives.
    pub(crate) fn read_voxels(
        &mut self,
        expected: u64,
        datatype: Datatype,
        big_endian: bool,
    ) -> Result<VoxelData, ReadError> {
        let available = if self.gzipped {
            self.input_len.saturating_mul(MAX_DEFLATE_RATIO)
        } else {
            self.input_len - self.position
        };
        let step = datatype.bytes_per_voxel();
        let mut decoder = VoxelDecoder::new(datatype, big_endian, (expected.min(available) / step as u64) as usize);
        let mut chunk = vec![0u8; step << 14];
        let mut read = 0u64;
        while read < expected {
            let want = (expected - read).min(chunk.len() as u64) as usize;
            let got = self.fill(&mut chunk[..want])?;
            if got < want {
                return Err(ReadError::DataTooShort { expected, got: read + got as u64 });
            }
            decoder.push(&chunk[..got]).map_err(|bytes| ReadError::OutOfMemory { bytes })?;
            read += got as u64;
        }
        Ok(decoder.finish())
    }

    /// For gzip: decompresses what follows the data (bounded) so the checksum is verified.
    pub(crate) fn finish(&mut self) -> Result<(), ReadError> {
        if self.gzipped {
            let mut rest = (&mut self.reader).take(MAX_TRAILING_BYTES);
            if let Err(e) = io::copy(&mut rest, &mut io::sink()) {
                return Err(self.gzip_error(e));
            }
        }
        Ok(())
    }
}

fn read_header(stream: &mut Stream) -> Result<RawHeader, ReadError> {
    let mut buf = vec![0u8; NIFTI1_BYTES];
    let got = stream.fill(&mut buf)?;
    let version = if got >= 4 {
        let first4 = [buf[0], buf[1], buf[2], buf[3]];
        version_of(first4).ok_or_else(|| {
            let inside = if stream.gzipped { " (inside the gzip stream)" } else { "" };
            ReadError::NotNifti { value: i32::from_le_bytes(first4), inside }
        })?
    } else {
        Version::One
    };
    let size = if version == Version::One { NIFTI1_BYTES } else { NIFTI2_BYTES };
    let mut got = got;
    if size > got && got == NIFTI1_BYTES {
        buf.resize(size, 0);
        got += stream.fill(&mut buf[NIFTI1_BYTES..])?;
    }
    if got < size {
        return Err(ReadError::TruncatedHeader { what: stream.what, got, needed: size });
    }
    match version {
        Version::One => parse_nifti1(&buf),
        Version::Two => parse_nifti2(&buf),
    }
}

/// A header whose fields have all been validated.
struct CheckedHeader {
    dims: Vec<usize>,
    datatype: Datatype,
    big_endian: bool,
    version: Version,
    data_bytes: u64,
    vox_offset: u64,
    scaling: Option<(f64, f64)>,
    geometry: Geometry,
    description: String,
    notes: Vec<String>,
}

impl CheckedHeader {
    fn new(h: &RawHeader, limits: ReadLimits) -> Result<CheckedHeader, ReadError> {
        let mut notes = Vec::new();
        if (3000..3100).contains(&h.intent_code) {
            return Err(ReadError::WrongFileKind(format!(
                "this is a CIFTI-2 file (intent_code {}): a matrix over surface vertices and voxels, not a 3D scan; open it with Connectome Workbench or nibabel's cifti2",
                h.intent_code
            )));
        }
        let ndim = h.dim[0];
        if !(1..=7).contains(&ndim) {
            return Err(ReadError::InvalidField {
                field: "dim[0]".into(),
                problem: format!("is {ndim}, expected the number of dimensions, 1 to 7"),
            });
        }
        let ndim = ndim as usize;
        let signed_dims: Vec<i64> = h.dim[1..=ndim].to_vec();
        for (i, &d) in signed_dims.iter().enumerate() {
            if d < 1 {
                return Err(ReadError::InvalidField {
                    field: format!("dim[{}]", i + 1),
                    problem: format!("is {d}, expected a size of at least 1"),
                });
            }
        }
        let datatype = Datatype::from_code(h.datatype)?;
        if matches!(datatype, Datatype::Rgb24 | Datatype::Rgba32) {
            notes.push(format!("{} voxels converted to luminance (0.299 R + 0.587 G + 0.114 B)", datatype.name()));
        }
        if datatype == Datatype::Complex64 {
            notes.push("complex64 voxels converted to their magnitude".into());
        }
        let claimed = within_budget(&signed_dims, datatype, limits)?;
        for (i, p) in h.pixdim.iter().enumerate().take(ndim + 1) {
            if !p.is_finite() {
                return Err(ReadError::NonFinite { field: format!("pixdim[{i}]") });
            }
        }
        if !h.vox_offset.is_finite() || h.vox_offset < 0.0 {
            return Err(ReadError::InvalidField {
                field: "vox_offset".into(),
                problem: format!("is {}, expected a byte offset ≥ 0", h.vox_offset),
            });
        }
        let scaling = scaling(h.scl_slope, h.scl_inter)?;
        let dims: Vec<usize> = signed_dims.iter().map(|&d| d as usize).collect();
        let code = |value: i32, field: &str| {
            i16::try_from(value).map_err(|_| ReadError::InvalidField {
                field: field.into(),
                problem: format!("is {value}, expected a transform code 0 to 4"),
            })
        };
        // The geometry fields as NIfTI-1 holds them (float32); a NIfTI-2 sform keeps its doubles below.
        let header_geometry = HeaderGeometry {
            pixdim: h.pixdim.map(|p| p as f32),
            qform_code: code(h.qform_code, "qform_code")?,
            sform_code: code(h.sform_code, "sform_code")?,
            quatern: h.quatern.map(|v| v as f32),
            qoffset: h.qoffset.map(|v| v as f32),
            srow: h.srow.map(|r| r.map(|v| v as f32)),
            xyzt_units: h.xyzt_units,
        };
        let mut geometry = Geometry::from_header(header_geometry, &dims, &mut notes)?;
        if h.version == Version::Two && h.sform_code > 0 {
            let [x, y, z] = h.srow;
            geometry.affine = [x, y, z, [0.0, 0.0, 0.0, 1.0]];
            if geometry.affine.iter().flatten().any(|v| !v.is_finite()) {
                return Err(ReadError::NonFinite { field: "srow_x/srow_y/srow_z".into() });
            }
        }
        let shear = geometry.shear();
        if shear > super::geometry::SHEAR_TOLERANCE {
            notes.push(format!("the affine has shear (voxel axes not orthogonal, max |cos| = {shear:.4}); kept as is"));
        }
        let description = text_field(&h.descrip);
        Ok(CheckedHeader {
            dims,
            datatype,
            big_endian: h.big_endian,
            version: h.version,
            data_bytes: claimed,
            vox_offset: h.vox_offset as u64,
            scaling,
            geometry,
            description,
            notes,
        })
    }

    /// A single file's data cannot start inside its header (and its 4-byte extension flag);
    /// nibabel moves such offsets to 352 (NIfTI-1) or 544 (NIfTI-2).
    fn single_file_offset(&self, notes: &mut Vec<String>) -> u64 {
        let first = if self.version == Version::One { NIFTI1_BYTES } else { NIFTI2_BYTES } as u64 + 4;
        if self.vox_offset < first {
            notes.push(format!("vox_offset {} is inside the header; data read from byte {first}", self.vox_offset));
            first
        } else {
            self.vox_offset
        }
    }

    fn into_volume(self, voxels: VoxelData, notes: Vec<String>) -> Volume {
        Volume {
            voxels,
            dims: self.dims,
            datatype: self.datatype,
            scaling: self.scaling,
            geometry: self.geometry,
            description: self.description,
            notes,
            format: if self.version == Version::One { ScanFormat::Nifti1 } else { ScanFormat::Nifti2 },
        }
    }
}

/// The bytes of voxel data the dims describe, once they are known to fit in the budget both as
/// stored and as one float32 volume.
pub(crate) fn within_budget(dims: &[i64], datatype: Datatype, limits: ReadLimits) -> Result<u64, ReadError> {
    let per_volume: u128 = dims.iter().take(3).map(|&d| d as u128).product();
    let stored = dims.iter().map(|&d| d as u128).product::<u128>() * datatype.bytes_per_voxel() as u128;
    let float = per_volume * 4;
    let shape = dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("×");
    let saturated = |b: u128| u64::try_from(b).unwrap_or(u64::MAX);
    let budget = MemoryBudget { bytes: limits.max_data_bytes };
    let (what, bytes) = if stored > float {
        (format!("the scan's {shape} voxels of {} as stored", datatype.name()), stored)
    } else {
        (format!("the scan's {shape} voxels of {} as float32", datatype.name()), float)
    };
    budget.check(|| what, saturated(bytes)).map_err(ReadError::TooLarge)?;
    Ok(stored as u64)
}

/// nibabel's rule: a slope of 0 or non-finite means no scaling; a valid slope needs a finite
/// intercept. Identity scaling is dropped.
fn scaling(slope: f64, inter: f64) -> Result<Option<(f64, f64)>, ReadError> {
    if slope == 0.0 || !slope.is_finite() {
        return Ok(None);
    }
    if !inter.is_finite() {
        return Err(ReadError::InvalidField {
            field: "scl_inter".into(),
            problem: format!("is {inter} while scl_slope is {slope}, expected a finite intercept"),
        });
    }
    if slope == 1.0 && inter == 0.0 {
        return Ok(None);
    }
    Ok(Some((slope, inter)))
}

/// A fixed-size, NUL-terminated header string as text (invalid UTF-8 replaced).
fn text_field(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).trim().to_string()
}
