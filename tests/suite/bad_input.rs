//! Every kind of broken file gets its own clear error, never a panic.

use crate::common;

use std::io::{Read, Write};

use flate2::{read::GzDecoder, write::GzEncoder, Compression};
use medseg::volume::{read_nifti, read_nifti_pair, ReadError, ReadLimits};

/// A valid little-endian single-file NIfTI-1 (uint8, 4×3×2, RAS 2 mm), uncompressed.
fn valid_nii() -> Vec<u8> {
    let values: Vec<u16> = (0..24).collect();
    gunzip(&medseg::volume::write_label_map(
        &values,
        [4, 3, 2],
        &common::synthetic_geometry(2.0),
        medseg::volume::NiftiVersion::Auto,
    ))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

fn set_i16(b: &mut [u8], offset: usize, v: i16) {
    b[offset..offset + 2].copy_from_slice(&v.to_le_bytes());
}

fn set_f32(b: &mut [u8], offset: usize, v: f32) {
    b[offset..offset + 4].copy_from_slice(&v.to_le_bytes());
}

fn read(bytes: &[u8]) -> Result<medseg::Volume, ReadError> {
    read_nifti(bytes, ReadLimits::default())
}

/// The error and its message, which must name what is wrong.
fn error_of(bytes: &[u8], must_mention: &str) -> ReadError {
    let e = read(bytes).expect_err("broken input must not open");
    let message = e.to_string();
    assert!(message.contains(must_mention), "message {message:?} should mention {must_mention:?}");
    e
}

#[test]
fn the_valid_fixture_opens_plain_and_gzipped() {
    let nii = valid_nii();
    let v = read(&nii).unwrap();
    assert_eq!(v.dims, vec![4, 3, 2]);
    assert_eq!(v.value_at([3, 2, 1], 0), Some(23.0));
    assert_eq!(read(&gzip(&nii)).unwrap().value_range(), Some((0.0, 23.0)));
}

#[test]
fn empty_file() {
    assert_eq!(error_of(&[], "empty"), ReadError::Empty);
}

#[test]
fn text_renamed_nii_and_wrong_magic() {
    let e = error_of(b"patient notes: nothing to see here\n", "not a NIfTI file");
    assert!(matches!(e, ReadError::NotNifti { inside: "", .. }));
    let mut nii = valid_nii();
    nii[344..348].copy_from_slice(b"XYZ\0");
    assert!(matches!(error_of(&nii, "magic"), ReadError::BadMagic { .. }));
}

#[test]
fn truncated_header() {
    let nii = valid_nii();
    assert_eq!(
        error_of(&nii[..200], "truncated header"),
        ReadError::TruncatedHeader { what: "file", got: 200, needed: 348 }
    );
    let e = error_of(&gzip(&nii[..100]), "truncated header");
    assert_eq!(e, ReadError::TruncatedHeader { what: "decompressed stream", got: 100, needed: 348 });
}

#[test]
fn truncated_and_corrupt_gzip() {
    let big: Vec<u8> = {
        let mut nii = valid_nii();
        // A larger, incompressible image so the cut lands inside the deflate stream.
        set_i16(&mut nii, 42, 64);
        set_i16(&mut nii, 44, 64);
        set_i16(&mut nii, 46, 64);
        nii.truncate(352);
        let mut state = 12345u32;
        nii.extend((0..64 * 64 * 64).map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (state >> 16) as u8
        }));
        nii
    };
    let gz = gzip(&big);
    assert!(read(&gz).is_ok());
    let cut = &gz[..gz.len() / 2];
    assert_eq!(error_of(cut, "truncated"), ReadError::TruncatedGzip);
    let mut corrupt = gz.clone();
    for b in &mut corrupt[200..260] {
        *b ^= 0x5a;
    }
    assert!(matches!(error_of(&corrupt, "corrupt"), ReadError::CorruptGzip(_)));
    // Damage in the checksum alone is caught too.
    let mut bad_crc = gz.clone();
    let n = bad_crc.len();
    bad_crc[n - 8] ^= 0xff;
    assert!(matches!(error_of(&bad_crc, "corrupt"), ReadError::CorruptGzip(_)));
}

#[test]
fn gzip_of_something_else() {
    let e = error_of(&gzip(b"<html><body>not a scan</body></html>".repeat(20).as_slice()), "inside the gzip stream");
    assert!(matches!(e, ReadError::NotNifti { .. }));
}

#[test]
fn nifti2_headers_are_checked_like_nifti1() {
    let mut nifti2 = vec![0u8; 600];
    nifti2[..4].copy_from_slice(&540i32.to_le_bytes());
    nifti2[4..12].copy_from_slice(b"n+2\0\r\n\x1a\n");
    error_of(&nifti2, "dim[0]");
    nifti2[16..24].copy_from_slice(&3i64.to_le_bytes());
    error_of(&nifti2, "dim[1]");
    nifti2[4..12].copy_from_slice(b"n+2\0\n\n\x1a\n");
    error_of(&nifti2, "text-mode transfer");
    let truncated = &nifti2[..400];
    assert_eq!(
        error_of(truncated, "NIfTI-2 header needs 540"),
        ReadError::TruncatedHeader { what: "file", got: 400, needed: 540 }
    );
}

#[test]
fn zero_negative_and_impossible_dims() {
    let mut nii = valid_nii();
    set_i16(&mut nii, 42, 0);
    error_of(&nii, "dim[1]");
    let mut nii = valid_nii();
    set_i16(&mut nii, 44, -5);
    let e = error_of(&nii, "dim[2]");
    assert!(e.to_string().contains("-5"));
    let mut nii = valid_nii();
    set_i16(&mut nii, 40, 9);
    error_of(&nii, "dim[0]");
}

#[test]
fn dims_beyond_the_limit_are_refused_before_reading() {
    let mut nii = valid_nii();
    for axis in 0..7 {
        set_i16(&mut nii, 42 + 2 * axis, i16::MAX);
    }
    set_i16(&mut nii, 40, 7);
    set_i16(&mut nii, 70, 64); // float64
    let e = error_of(&nii, "more than the memory budget");
    assert!(matches!(e, ReadError::TooLarge { .. }));
}

#[test]
fn vox_offset_past_the_end_and_short_data() {
    let mut nii = valid_nii();
    set_f32(&mut nii, 108, 1.0e6);
    assert!(matches!(error_of(&nii, "vox_offset 1000000"), ReadError::VoxOffsetPastEnd { .. }));
    assert!(matches!(error_of(&gzip(&nii), "past the end"), ReadError::VoxOffsetPastEnd { .. }));
    let nii = valid_nii();
    let short = &nii[..nii.len() - 5];
    assert_eq!(error_of(short, "shorter than the header says"), ReadError::DataTooShort { expected: 24, got: 19 });
    assert!(matches!(error_of(&gzip(short), "expected 24 bytes"), ReadError::DataTooShort { .. }));
    let mut nii = valid_nii();
    set_f32(&mut nii, 108, f32::NAN);
    error_of(&nii, "vox_offset");
}

#[test]
fn unknown_and_unsupported_datatypes() {
    let mut nii = valid_nii();
    set_i16(&mut nii, 70, 3);
    assert_eq!(error_of(&nii, "unknown code 3"), ReadError::UnknownDatatype(3));
    set_i16(&mut nii, 70, 1536);
    error_of(&nii, "float128");
}

#[test]
fn nan_and_infinity_in_geometry() {
    let mut nii = valid_nii();
    set_f32(&mut nii, 80, f32::NAN); // pixdim[1]
    assert_eq!(error_of(&nii, "pixdim[1]"), ReadError::NonFinite { field: "pixdim[1]".into() });
    let mut nii = valid_nii();
    set_f32(&mut nii, 296 + 8, f32::INFINITY); // srow_y[2], used since sform_code = 1
    error_of(&nii, "srow");
    let mut nii = valid_nii();
    set_i16(&mut nii, 254, 0); // sform unused: fall back to qform
    set_i16(&mut nii, 252, 1);
    set_f32(&mut nii, 268, f32::NAN); // qoffset_x
    error_of(&nii, "qoffset");
}

#[test]
fn slope_with_invalid_intercept() {
    let mut nii = valid_nii();
    set_f32(&mut nii, 112, 2.0);
    set_f32(&mut nii, 116, f32::NAN);
    error_of(&nii, "scl_inter");
    set_f32(&mut nii, 116, 10.0);
    assert_eq!(read(&nii).unwrap().value_at([1, 0, 0], 0), Some(12.0));
}

#[test]
fn header_and_image_pair() {
    let nii = valid_nii();
    let mut hdr = nii[..348].to_vec();
    hdr[344..348].copy_from_slice(b"ni1\0");
    set_f32(&mut hdr, 108, 0.0);
    let img = nii[352..].to_vec();
    let single = read(&nii).unwrap();
    for (h, i) in [(hdr.clone(), img.clone()), (gzip(&hdr), gzip(&img))] {
        let pair = read_nifti_pair(&h, &i, ReadLimits::default()).unwrap();
        assert_eq!(pair.voxels, single.voxels);
        assert_eq!(pair.geometry.affine, single.geometry.affine);
    }
    assert!(matches!(read(&hdr), Err(ReadError::WrongFileKind(_))));
    let short = read_nifti_pair(&hdr, &img[..10], ReadLimits::default()).unwrap_err();
    assert_eq!(short, ReadError::DataTooShort { expected: 24, got: 10 });
    assert_eq!(
        read_nifti_pair(&hdr, &[], ReadLimits::default()).unwrap_err(),
        ReadError::DataTooShort { expected: 24, got: 0 }
    );
}

#[test]
fn dicom_and_mgz_are_not_mistaken_for_nifti() {
    // nibabel's Siemens mosaic 0.dcm: its 128-byte DICOM preamble starts with the number 348
    // (NIfTI-1's header size), so it is refused only at the NIfTI magic.
    let mosaic = "nibabel/tests/data/0.dcm";
    error_of(&common::read_public(mosaic), "wrong magic at byte 344");
    // pydicom's DICOM files (explicit/implicit VR, big-endian, RLE, enhanced CT) and nibabel's MGZ.
    let others =
        common::public_files().into_iter().filter(|&f| (f.ends_with(".dcm") || f.ends_with(".mgz")) && f != mosaic);
    for name in others {
        error_of(&common::read_public(name), "not a NIfTI file");
    }
}

#[test]
fn every_prefix_of_a_real_file_fails_cleanly() {
    // nibabel's standard.nii.gz (gzip, 143 bytes) and anatomical.nii (plain, big-endian).
    for name in ["nibabel/tests/data/standard.nii.gz", "nibabel/tests/data/anatomical.nii"] {
        let bytes = common::read_public(name);
        for len in 0..bytes.len() {
            assert!(read(&bytes[..len]).is_err(), "{name}: a {len}-byte prefix must not open");
        }
        assert!(read(&bytes).is_ok(), "{name}");
    }
}

#[test]
fn a_label_map_too_wide_for_nifti1_is_written_as_nifti2() {
    let mut values = vec![0u16; 40_000];
    values[39_999] = 7;
    let gz = medseg::volume::write_label_map(
        &values,
        [40_000, 1, 1],
        &common::synthetic_geometry(1.0),
        medseg::volume::NiftiVersion::Auto,
    );
    assert_eq!(&gunzip(&gz)[..4], &540i32.to_le_bytes(), "a NIfTI-2 header");
    let back = read(&gz).expect("medseg reads its NIfTI-2 back");
    assert_eq!(back.dims, [40_000, 1, 1]);
    assert_eq!(back.voxels.get_f64(39_999), 7.0);
}
