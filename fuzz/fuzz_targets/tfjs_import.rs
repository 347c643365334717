//! Fuzzes the TF.js importer with a `model.json` and its weight shards: the input is the JSON
//! text, a NUL byte, then the shards' bytes (split evenly over the shards the JSON lists). Both
//! `shard_paths` and `to_onnx` must return an error or a graph, never panic or allocate what the
//! JSON merely claims; an imported graph must load as a network (or be refused with an error)
//! and split into plane-streamed stages (or not), as `Model::load` does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medseg::engine::network::Network;
use medseg::engine::streaming::Streamed;
use medseg::models::tfjs;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let Ok(json) = std::str::from_utf8(&data[..split]) else { return };
    let weights = data.get(split + 1..).unwrap_or_default();
    let Ok(paths) = tfjs::shard_paths(json) else {
        assert!(tfjs::to_onnx::<&[u8]>(json, &[weights]).is_err(), "to_onnx accepts what shard_paths refuses");
        return;
    };
    // As many shards as the JSON lists (at most a few hundred), the bytes split evenly.
    let count = paths.len().clamp(1, 256);
    let size = weights.len().div_ceil(count).max(1);
    let mut shards: Vec<&[u8]> = weights.chunks(size).collect();
    shards.resize(count, &[]);
    if let Ok(proto) = tfjs::to_onnx(json, &shards) {
        if Network::from_proto(&proto).is_ok() {
            let _ = Streamed::from_proto(&proto);
        }
    }
});
