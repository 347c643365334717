//! Fuzzes the NIfTI reader with raw and gzipped bytes, single files and pairs: it must return
//! an error or a volume, never panic, hang or allocate what a header merely claims.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use medseg::volume::{read_nifti, read_nifti_pair, ReadLimits};

/// A small limit keeps each run fast while still exercising the size checks.
const LIMITS: ReadLimits = ReadLimits { max_data_bytes: 64 << 20 };

fuzz_target!(|data: &[u8]| {
    if let Ok(volume) = read_nifti(data, LIMITS) {
        // Everything a viewer would ask of a volume must work on whatever opened.
        let _ = volume.value_range();
        let _ = volume.geometry.orientation();
        let _ = volume.volume_f32(0);
        let _ = medseg::info::ScanInfo::of(&volume).to_json();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    let _ = read_nifti(&gz.finish().unwrap(), LIMITS);
    if data.len() > 348 {
        let _ = read_nifti_pair(&data[..348], &data[348..], LIMITS);
    }
});
