//! Fuzzes ONNX loading as `Model::load` and `MedSam::load` do it: `parse_onnx` on the file's
//! bytes, `Network::from_proto` on the graph (tract's loading of every node) and
//! `Streamed::from_proto` (the split into plane-streamed convolution stages). Each must return an
//! error or a value, never panic, hang or allocate what the file merely claims.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medseg::engine::network::{parse_onnx, Network};
use medseg::engine::streaming::Streamed;

fuzz_target!(|data: &[u8]| {
    let Ok(proto) = parse_onnx(data) else { return };
    let _ = Streamed::from_proto(&proto);
    let _ = Network::from_proto(&proto);
});
