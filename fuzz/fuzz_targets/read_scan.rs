//! Fuzzes the readers behind `read_scan` (NIfTI-1/-2, MGH/MGZ, NRRD, one DICOM file, chosen by
//! content), an NRRD detached header with its data, and a DICOM "folder" of two files: each must
//! return an error or a volume, never panic, hang or allocate what a header merely claims.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medseg::volume::{list_dicom_series, read_dicom_series, read_nrrd_detached, read_scan, DicomInput, ReadLimits};

/// A small limit keeps each run fast while still exercising the size checks.
const LIMITS: ReadLimits = ReadLimits { max_data_bytes: 64 << 20 };

fuzz_target!(|data: &[u8]| {
    if let Ok(volume) = read_scan(data, LIMITS) {
        // Everything a viewer would ask of a volume must work on whatever opened.
        let _ = volume.value_range();
        let _ = volume.geometry.orientation();
        let _ = volume.volume_f32(0);
        let _ = medseg::info::ScanInfo::of(&volume).to_json();
    }
    // Split at the first blank line (an NRRD header's end) or in the middle: a header and its data,
    // and two DICOM files of one series.
    let split = data.windows(2).position(|w| w == b"\n\n").map_or(data.len() / 2, |i| i + 2);
    let (first, second) = data.split_at(split);
    let _ = read_nrrd_detached(first, second, LIMITS);
    let inputs = [DicomInput { name: "a", bytes: first }, DicomInput { name: "b", bytes: second }];
    if let Ok((series, _)) = list_dicom_series(&inputs) {
        for s in &series {
            let _ = read_dicom_series(&inputs, s, LIMITS);
        }
    }
});
