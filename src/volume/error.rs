//! Everything that can be wrong with a scan file, each with a message that says what, where,
//! and what was expected.

use thiserror::Error;

use super::budget::{Bytes, OverBudget};

/// Why a scan could not be read.
#[derive(Debug, Error, PartialEq)]
pub enum ReadError {
    /// Zero bytes.
    #[error("the file is empty (0 bytes)")]
    Empty,
    /// The gzip stream ends before its end marker.
    #[error("the gzip stream is truncated: it ends before its end-of-stream marker (the file was probably cut short)")]
    TruncatedGzip,
    /// The gzip stream cannot be decompressed.
    #[error("the gzip data is corrupt: {0}")]
    CorruptGzip(String),
    /// Fewer bytes than a NIfTI-1 header.
    #[error("truncated header: the {what} holds {got} bytes, a NIfTI-1 header needs 348")]
    TruncatedHeader {
        /// "file" or "decompressed stream".
        what: &'static str,
        /// Bytes available.
        got: usize,
    },
    /// The first four bytes are not a NIfTI header size.
    #[error("not a NIfTI file{inside}: sizeof_hdr (first 4 bytes) is {value}, expected 348 for NIfTI-1")]
    NotNifti {
        /// The value read (little-endian).
        value: i32,
        /// " (inside the gzip stream)" when the gzip layer was fine.
        inside: &'static str,
    },
    /// A NIfTI-2 header (540 bytes).
    #[error(
        "NIfTI-2 files (540-byte header) are not supported yet; convert to NIfTI-1, e.g. with nibabel or fslchfiletype"
    )]
    Nifti2,
    /// The magic string at byte 344 is wrong.
    #[error("wrong magic at byte 344: found {found:?}, expected \"n+1\" (single .nii) or \"ni1\" (.hdr/.img pair)")]
    BadMagic {
        /// The 4 bytes found, escaped.
        found: String,
    },
    /// A `.hdr` of a pair was given where a single file was expected, or the reverse.
    #[error("{0}")]
    WrongFileKind(String),
    /// A header field holds an impossible value.
    #[error("invalid header field {field}: {problem}")]
    InvalidField {
        /// Field name, e.g. "dim[2]".
        field: String,
        /// What is wrong and what was expected.
        problem: String,
    },
    /// NaN or infinity in a geometry field.
    #[error("invalid header field {field}: contains NaN or infinity, expected finite numbers")]
    NonFinite {
        /// Field name.
        field: String,
    },
    /// The datatype code is not defined by NIfTI-1.
    #[error("invalid header field datatype: unknown code {0}, expected a NIfTI-1 datatype code (2, 4, 8, 16, 32, 64, 128, 256, 512, 768, 1024, 1280, 2304)")]
    UnknownDatatype(i16),
    /// A defined datatype that this reader does not handle.
    #[error("datatype {name} (code {code}) is not supported")]
    UnsupportedDatatype {
        /// Code.
        code: i16,
        /// Name.
        name: &'static str,
    },
    /// The dims describe more data than the memory budget allows.
    #[error("{0}")]
    TooLarge(#[from] OverBudget),
    /// Memory could not grow to hold the voxel data.
    #[error("out of memory: the voxel data needs {} and this process cannot allocate that much", Bytes(*.bytes))]
    OutOfMemory {
        /// Bytes the voxel array needed.
        bytes: u64,
    },
    /// `vox_offset` points beyond the end of the data.
    #[error("vox_offset {vox_offset} points past the end of the {what} ({len} bytes)")]
    VoxOffsetPastEnd {
        /// Offset in the header.
        vox_offset: u64,
        /// "file", "image file" or "decompressed stream".
        what: &'static str,
        /// Bytes available.
        len: u64,
    },
    /// Fewer voxel bytes than the header describes.
    #[error("the voxel data is shorter than the header says: expected {expected} bytes after vox_offset, found {got} (the file is probably truncated)")]
    DataTooShort {
        /// Bytes expected.
        expected: u64,
        /// Bytes found.
        got: u64,
    },
    /// The requested volume index does not exist.
    #[error("volume index {index} is out of range: the file holds {count} volume(s)")]
    VolumeOutOfRange {
        /// Requested.
        index: usize,
        /// Available.
        count: usize,
    },
}
