//! tract runs brainchop's MeshNets like onnxruntime does: the ONNX references, and the project's
//! own import of the TF.js files, both within 1e-3 of onnxruntime's logits on a real block of
//! norm.nii.gz (tests/reference/meshnet_onnxruntime.json, made by make_meshnet_reference.py).

use crate::common;

use medseg::engine::network::Network;
use medseg::models::tfjs;
use medseg::volume::{read_nifti, ReadLimits};
use serde_json::Value;

fn reference() -> Value {
    serde_json::from_str(include_str!("../reference/meshnet_onnxruntime.json")).unwrap()
}

/// The reference input: a 40³ block of norm.nii.gz scaled by the scan's maximum, as [1,1,D,H,W].
fn block(reference: &Value) -> Option<Vec<f32>> {
    let bytes = common::read_shared("data/brain/norm.nii.gz")?;
    let norm = read_nifti(&bytes, ReadLimits::default()).unwrap();
    let scale = reference["scale"].as_f64().unwrap();
    let n = reference["size"].as_u64().unwrap() as usize;
    let o: Vec<usize> =
        reference["origin_xyz"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    let mut out = Vec::with_capacity(n * n * n);
    for z in 0..n {
        for y in 0..n {
            for x in 0..n {
                out.push((norm.value_at([o[0] + x, o[1] + y, o[2] + z], 0).unwrap() / scale) as f32);
            }
        }
    }
    Some(out)
}

/// Largest |tract − onnxruntime| over the sampled voxels and all channels.
fn max_difference(reference: &Value, model: &str, logits: &[f32], shape: &[usize]) -> f64 {
    let expected = &reference["models"][model];
    let channels = expected["channels"].as_u64().unwrap() as usize;
    let n = reference["size"].as_u64().unwrap() as usize;
    assert_eq!(shape, [1, channels, n, n, n], "{model}: output shape");
    let mut worst: f64 = 0.0;
    for (sample, values) in
        reference["samples_dhw"].as_array().unwrap().iter().zip(expected["values"].as_array().unwrap())
    {
        let [d, h, w] = [0, 1, 2].map(|i| sample[i].as_u64().unwrap() as usize);
        for (c, v) in values.as_array().unwrap().iter().enumerate() {
            let got = logits[((c * n + d) * n + h) * n + w] as f64;
            worst = worst.max((got - v.as_f64().unwrap()).abs());
        }
    }
    worst
}

/// Runs `network` on the reference block and checks its logits within 1e-3 of onnxruntime's.
fn assert_matches_onnxruntime(reference: &Value, network: &Network, input: &[f32], model: &str, what: &str) {
    let n = reference["size"].as_u64().unwrap() as usize;
    let (logits, shape) = pollster::block_on(network.run(input.to_vec(), &[1, 1, n, n, n])).unwrap();
    let diff = max_difference(reference, model, &logits, &shape);
    assert!(diff <= 1e-3, "{model} ({what}): max |Δlogit| {diff} vs onnxruntime");
    eprintln!("{model} ({what}): max |Δlogit| vs onnxruntime {diff:.2e}");
}

const MODELS: [&str; 8] = [
    "model5_gw_ae",
    "model11_gw_ae",
    "model18cls",
    "model20chan3cls",
    "model21_104class",
    "model30chan18cls",
    "model30chan50cls",
    "mindgrab",
];

#[test]
fn tract_matches_onnxruntime_on_the_onnx_references() {
    let reference = reference();
    let Some(input) = block(&reference) else { return };
    for model in MODELS {
        let Some(bytes) = common::read_shared(&format!("models/meshnet-onnx/{model}.onnx")) else { return };
        let network = Network::from_onnx_bytes(&bytes).unwrap();
        assert_matches_onnxruntime(&reference, &network, &input, model, "ONNX reference in tract");
    }
}

#[test]
fn the_tfjs_import_gives_the_reference_logits() {
    let reference = reference();
    let Some(input) = block(&reference) else { return };
    for model in MODELS {
        let dir = format!("models/brainchop-tfjs/{model}");
        let Some(json) = common::read_shared(&format!("{dir}/model.json")) else { return };
        let json = String::from_utf8(json).unwrap();
        let shards: Vec<Vec<u8>> = tfjs::shard_paths(&json)
            .unwrap()
            .iter()
            .map(|p| common::read_shared(&format!("{dir}/{p}")).expect("weight shard"))
            .collect();
        let network = Network::from_proto(&tfjs::to_onnx(&json, &shards).unwrap()).unwrap();
        assert_matches_onnxruntime(&reference, &network, &input, model, "TF.js import in tract");
    }
}

#[test]
fn a_file_that_is_not_onnx_is_a_clear_error() {
    let err = Network::from_onnx_bytes(b"definitely not a protobuf \xff\xff").err().expect("must fail").to_string();
    assert!(err.contains("not an ONNX model"), "{err}");
    assert!(Network::from_onnx_bytes(&[]).err().unwrap().to_string().contains("empty"));
}
