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
    /// Fewer bytes than the header.
    #[error("truncated header: the {what} holds {got} bytes, a NIfTI-{} header needs {needed}", if *needed == 540 { 2 } else { 1 })]
    TruncatedHeader {
        /// "file" or "decompressed stream".
        what: &'static str,
        /// Bytes available.
        got: usize,
        /// The header's size: 348 (NIfTI-1) or 540 (NIfTI-2).
        needed: usize,
    },
    /// The first four bytes are not a NIfTI header size.
    #[error(
        "not a NIfTI file{inside}: sizeof_hdr (first 4 bytes) is {value}, expected 348 (NIfTI-1) or 540 (NIfTI-2)"
    )]
    NotNifti {
        /// The value read (little-endian).
        value: i32,
        /// " (inside the gzip stream)" when the gzip layer was fine.
        inside: &'static str,
    },
    /// The first bytes match none of the formats medseg reads.
    #[error(
        "not a scan file medseg reads{inside}: its first 4 bytes ({value} as NIfTI's sizeof_hdr) match none of NIfTI-1 (348), NIfTI-2 (540), MGH/MGZ (version 1) or NRRD (\"NRRD000\")"
    )]
    NotAScan {
        /// The first 4 bytes as a little-endian int32.
        value: i32,
        /// " (inside the gzip stream)" when the gzip layer was fine.
        inside: &'static str,
    },
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
    /// Fewer bytes than the fixed part of an MGH header.
    #[error(
        "truncated MGH header: the {what} holds {got} bytes, an MGH header needs at least 90 (data starts at byte 284)"
    )]
    TruncatedMghHeader {
        /// "file" or "decompressed stream".
        what: &'static str,
        /// Bytes available.
        got: usize,
    },
    /// The MGH `type` field is not a voxel type MGH readers know.
    #[error("invalid MGH header field type: unknown code {0}, expected 0 (uchar), 1 (int32), 3 (float32), 4 (int16) or 10 (uint16)")]
    UnknownMghType(i32),
    /// Fewer MGH voxel bytes than the header describes.
    #[error("the MGH voxel data is shorter than the header says: expected {expected} bytes from byte 284, found {got} (the file is probably truncated)")]
    MghDataTooShort {
        /// Bytes expected.
        expected: u64,
        /// Bytes found.
        got: u64,
    },
    /// NRRD voxel data that does not match its header (too short, or unreadable ascii values).
    #[error("invalid NRRD data: {0}")]
    NrrdData(String),
    /// A DICOM file or series that cannot be read: what is wrong, in which file or tag, and what
    /// was expected.
    #[error("DICOM: {0}")]
    Dicom(String),
    /// The requested volume index does not exist.
    #[error("volume index {index} is out of range: the file holds {count} volume(s)")]
    VolumeOutOfRange {
        /// Requested.
        index: usize,
        /// Available.
        count: usize,
    },
}
