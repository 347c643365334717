//! Opening a single-file scan whatever its format, chosen by its content (never its name):
//! NIfTI-1 and NIfTI-2 (`.nii`, `.nii.gz`), FreeSurfer MGH/MGZ, NRRD (`.nrrd`), one DICOM file.
//! Two-file scans (`.hdr` + `.img`, `.nhdr` + data) and DICOM series have their own readers.

use std::io::Read;

use flate2::read::MultiGzDecoder;

use super::dicom::read_dicom_file;
use super::error::ReadError;
use super::mgh::read_mgh;
use super::nifti_header::version_of;
use super::nifti_read::{read_nifti, ReadLimits};
use super::nrrd::read_nrrd;
use super::scan::Volume;

/// What a file's first bytes (inside the gzip stream when gzipped) say it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// `sizeof_hdr` 348 or 540 (either byte order).
    Nifti,
    /// MGH: big-endian version 1, then three positive sizes.
    Mgh,
    /// "NRRD000…" magic.
    Nrrd,
    /// "DICM" at byte 128 (a DICOM Part 10 file).
    Dicom,
    /// None of these.
    Unknown,
}

/// The first bytes of `bytes`, decompressed when they are gzip (as much as is there, up to 132).
fn head(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(132);
    if bytes.starts_with(&[0x1f, 0x8b]) {
        // A corrupt or short stream gives what it gave; the reader then names the problem.
        let _ = MultiGzDecoder::new(bytes).take(132).read_to_end(&mut out);
    } else {
        out.extend_from_slice(&bytes[..bytes.len().min(132)]);
    }
    out
}

/// Tells the format of a single-file scan from its content.
pub fn file_kind(bytes: &[u8]) -> FileKind {
    let head = head(bytes);
    if head.starts_with(b"NRRD000") {
        return FileKind::Nrrd;
    }
    if head.len() >= 132 && &head[128..132] == b"DICM" {
        return FileKind::Dicom;
    }
    if head.len() >= 4 && version_of([head[0], head[1], head[2], head[3]]).is_some() {
        return FileKind::Nifti;
    }
    let be = |i: usize| head.get(i..i + 4).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    if be(0) == Some(1) && (1..=4).all(|k| be(4 * k).is_some_and(|v| v >= 1)) {
        return FileKind::Mgh;
    }
    FileKind::Unknown
}

/// Reads a single-file scan: NIfTI-1/-2, MGH/MGZ, NRRD or one DICOM file (a one-slice or
/// multi-frame scan), by its content. Anything else gets a message that says what medseg reads.
pub fn read_scan(bytes: &[u8], limits: ReadLimits) -> Result<Volume, ReadError> {
    match file_kind(bytes) {
        FileKind::Nifti => read_nifti(bytes, limits),
        FileKind::Mgh => read_mgh(bytes, limits),
        FileKind::Nrrd => read_nrrd(bytes, limits),
        FileKind::Dicom => read_dicom_file(bytes, limits),
        // The NIfTI reader names what the first bytes are and what was expected.
        FileKind::Unknown => read_nifti(bytes, limits).map_err(|e| match e {
            ReadError::NotNifti { value, inside } => ReadError::NotAScan { value, inside },
            other => other,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_content() {
        let mut nifti1 = vec![0u8; 348];
        nifti1[..4].copy_from_slice(&348i32.to_le_bytes());
        assert_eq!(file_kind(&nifti1), FileKind::Nifti);
        assert_eq!(file_kind(&540i32.to_be_bytes()), FileKind::Nifti);
        assert_eq!(file_kind(b"NRRD0004\ntype: uchar\n"), FileKind::Nrrd);
        let mut dicom = vec![0u8; 200];
        dicom[128..132].copy_from_slice(b"DICM");
        assert_eq!(file_kind(&dicom), FileKind::Dicom);
        let mgh: Vec<u8> = [1i32, 256, 256, 256, 1, 0].iter().flat_map(|v| v.to_be_bytes()).collect();
        assert_eq!(file_kind(&mgh), FileKind::Mgh);
        assert_eq!(file_kind(b"<html>not a scan</html>"), FileKind::Unknown);
    }

    #[test]
    fn junk_says_what_medseg_reads() {
        let message = read_scan(&[b'x'; 400], ReadLimits::default()).unwrap_err().to_string();
        assert!(message.contains("NIfTI") && message.contains("MGH") && message.contains("NRRD"), "{message}");
    }
}
