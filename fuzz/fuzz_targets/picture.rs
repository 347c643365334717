//! Fuzzes the PNG/JPEG picture decoder `medseg medsam` uses (`medsam::image::decode_picture`)
//! and the MedSAM preparation of what it decodes (the encoder's 256² input). It must return an
//! error or images, never panic or allocate what a header merely claims.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medseg::medsam::image::{decode_picture, encoder_input, Window};

/// Small enough to keep each run fast, large enough to exercise the header checks.
const MAX_PIXELS: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(channels) = decode_picture(data, MAX_PIXELS) else { return };
    assert!(channels.len() == 1 || channels.len() == 3, "{} channels", channels.len());
    let first = &channels[0];
    assert!(first.rows * first.cols <= MAX_PIXELS && first.rows > 0 && first.cols > 0);
    for c in &channels {
        assert_eq!((c.rows, c.cols, c.values.len()), (first.rows, first.cols, first.rows * first.cols));
    }
    let unit: Vec<_> = channels.iter().map(|c| c.to_unit(Window::Percentiles)).collect();
    assert_eq!(encoder_input(&unit).len(), 3 * 256 * 256);
});
