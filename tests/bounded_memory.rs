//! A header's claims never drive allocation: memory follows the bytes actually present.
//! (Own test binary: it installs a counting global allocator.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

mod common;

use medseg::volume::{read_nifti, ReadError, ReadLimits};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(live, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak bytes allocated (above what was live before) while running `f`.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = LIVE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let out = f();
    (out, PEAK.load(Ordering::SeqCst) - before)
}

/// A 352-byte header claiming a 1024 × 1024 × 512 float32 volume (2 GiB) with `data` after it.
fn lying_header(data: &[u8]) -> Vec<u8> {
    let gz = medseg::volume::write_label_map(
        &[0u16],
        [1, 1, 1],
        &common::synthetic_geometry(1.0),
        medseg::volume::NiftiVersion::Auto,
    );
    let mut nii = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut nii).unwrap();
    nii.truncate(352);
    for (offset, v) in [(42, 1024i16), (44, 1024), (46, 511), (70, 16), (72, 32)] {
        nii[offset..offset + 2].copy_from_slice(&v.to_le_bytes());
    }
    nii.extend_from_slice(data);
    nii
}

#[test]
fn a_huge_claim_with_little_data_allocates_little() {
    let plain = lying_header(&[7u8; 4096]);
    let (result, peak) = peak_during(|| read_nifti(&plain, ReadLimits::default()));
    assert!(matches!(result, Err(ReadError::DataTooShort { got: 4096, .. })), "{result:?}");
    assert!(peak < 1 << 20, "plain: peak {peak} bytes for a 4 kB file claiming 2 GiB");

    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut encoder, &plain).unwrap();
    let gz = encoder.finish().unwrap();
    let (result, peak) = peak_during(|| read_nifti(&gz, ReadLimits::default()));
    assert!(matches!(result, Err(ReadError::DataTooShort { .. })), "{result:?}");
    assert!(peak < 8 << 20, "gzip: peak {peak} bytes for a small file claiming 2 GiB");
}

#[test]
fn a_claim_beyond_the_limit_allocates_nothing_big() {
    let mut nii = lying_header(&[]);
    for axis in 0..3 {
        nii[42 + 2 * axis..44 + 2 * axis].copy_from_slice(&i16::MAX.to_le_bytes());
    }
    let (result, peak) = peak_during(|| read_nifti(&nii, ReadLimits::default()));
    assert!(matches!(result, Err(ReadError::TooLarge { .. })), "{result:?}");
    assert!(peak < 1 << 20, "peak {peak}");
}

/// A 352-byte header claiming `dims` of int16, then `data`.
fn int16_header(dims: [i16; 3], data: &[u8]) -> Vec<u8> {
    let mut nii = lying_header(data);
    for (axis, d) in dims.iter().enumerate() {
        nii[42 + 2 * axis..44 + 2 * axis].copy_from_slice(&d.to_le_bytes());
    }
    nii[70..72].copy_from_slice(&4i16.to_le_bytes());
    nii[72..74].copy_from_slice(&16i16.to_le_bytes());
    nii
}

#[test]
fn a_gzip_bomb_within_the_budget_takes_the_memory_of_its_data_once() {
    // 64 MiB of int16 voxels from a gzip of about 64 kB: decoded piece by piece into the one
    // vector that holds them (once the whole byte buffer was kept and then decoded into a second).
    let data = vec![0u8; 64 << 20];
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut encoder, &int16_header([512, 256, 256], &data)).unwrap();
    let gz = encoder.finish().unwrap();
    drop(data);
    assert!(gz.len() < 1 << 20);
    let (result, peak) = peak_during(|| read_nifti(&gz, ReadLimits::default()).map(|v| v.voxels.len()));
    assert_eq!(result, Ok(512 * 256 * 256));
    assert!(peak < (64 << 20) + (2 << 20), "peak {} MiB for 64 MiB of voxels", peak >> 20);
}
