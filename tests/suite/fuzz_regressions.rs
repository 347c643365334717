//! One test per crash the fuzz targets (fuzz/, see fuzz/README.md) led to, each with its input
//! inlined: the input must now be refused with a clear error (or declined), not panic or abort.

use medseg::engine::streaming::Streamed;
use medseg::models::tfjs;
use tract_onnx::pb::{
    attribute_proto::AttributeType, tensor_proto::DataType, AttributeProto, GraphProto, ModelProto, NodeProto,
    TensorProto, ValueInfoProto,
};

/// A TF.js `model.json` of Conv3D layers `(name, filters, kernel, dilation)`, without bias,
/// whose weight manifest lists `weights` `(name, shape)` in one shard.
fn tfjs_json(layers: &[(&str, u64, [u64; 3], [u64; 3])], weights: &[(&str, Vec<u64>)]) -> String {
    let layers: Vec<serde_json::Value> = layers
        .iter()
        .map(|(name, filters, kernel, dilation)| {
            serde_json::json!({"class_name": "Conv3D", "config": {
                "name": name, "filters": filters, "kernel_size": kernel, "strides": [1, 1, 1],
                "dilation_rate": dilation, "padding": "same", "use_bias": false}})
        })
        .collect();
    let weights: Vec<serde_json::Value> = weights
        .iter()
        .map(|(name, shape)| serde_json::json!({"name": name, "shape": shape, "dtype": "float32"}))
        .collect();
    serde_json::json!({"format": "layers-model", "modelTopology": {"config": {"layers": layers}},
        "weightsManifest": [{"paths": ["group1-shard1of1.bin"], "weights": weights}]})
    .to_string()
}

/// fuzz target tfjs_import: a Conv3D of 0 filters makes the next layer's kernel empty, so the
/// next layer's 10¹¹ filters needed no weight bytes, and its instance norm (`*_gn`) then
/// allocated 10¹¹ floats (an abort, out of memory).
#[test]
fn tfjs_layer_without_filters_is_refused() {
    let json = tfjs_json(
        &[("a", 0, [1, 1, 1], [1, 1, 1]), ("b_gn", 100_000_000_000, [1, 1, 1], [1, 1, 1])],
        &[("a/kernel", vec![1, 1, 1, 1, 0]), ("b_gn/kernel", vec![1, 1, 1, 0, 100_000_000_000])],
    );
    let err = tfjs::to_onnx::<&[u8]>(&json, &[&[]]).unwrap_err().to_string();
    assert!(err.contains("layer a: filters must be a positive number, not 0"), "{err}");
}

/// fuzz target tfjs_import: a dilation of 2⁶⁴ − 1 overflowed the 'same' padding's
/// dilation × (kernel − 1) (a panic).
#[test]
fn tfjs_dilation_whose_padding_overflows_is_refused() {
    let json = tfjs_json(&[("c", 1, [3, 1, 1], [u64::MAX, 1, 1])], &[("c/kernel", vec![3, 1, 1, 1, 1])]);
    let err = tfjs::to_onnx(&json, &[[0u8; 12].as_slice()]).unwrap_err().to_string();
    assert!(
        err.contains("layer c: kernel_size [3, 1, 1] with dilation_rate [18446744073709551615, 1, 1] is not a usable convolution"),
        "{err}"
    );
}

/// fuzz target onnx_load: an ONNX Conv dilated by 2⁶² along D overflowed the streaming split's
/// reach, dilation × (kernel − 1) (a panic while loading); such a graph is now not streamed.
#[test]
fn onnx_conv_whose_reach_overflows_is_not_streamed() {
    let ints = |name: &str, ints: Vec<i64>| AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints,
        ..Default::default()
    };
    let value = |name: &str| ValueInfoProto { name: name.into(), ..Default::default() };
    let graph = GraphProto {
        node: vec![NodeProto {
            op_type: "Conv".into(),
            input: vec!["input".into(), "w".into()],
            output: vec!["logits".into()],
            attribute: vec![
                ints("kernel_shape", vec![3, 1, 1]),
                ints("dilations", vec![1 << 62, 1, 1]),
                ints("pads", vec![0; 6]),
            ],
            ..Default::default()
        }],
        initializer: vec![TensorProto {
            name: "w".into(),
            dims: vec![1, 1, 3, 1, 1],
            data_type: DataType::Float as i32,
            float_data: vec![1.0, 2.0, 3.0],
            ..Default::default()
        }],
        input: vec![value("input")],
        output: vec![value("logits")],
        ..Default::default()
    };
    let proto = ModelProto { graph: Some(graph), ..Default::default() };
    assert!(Streamed::from_proto(&proto).is_none());
}

/// fuzz target onnx_load: a graph whose declared output no node, input or initializer provides
/// (the seed `skip` with its output renamed) made tract's loader panic ("no entry found for key").
#[test]
fn onnx_output_that_nothing_provides_is_refused() {
    let value = |name: &str| ValueInfoProto { name: name.into(), ..Default::default() };
    let graph = GraphProto {
        name: "skip".into(),
        node: vec![NodeProto {
            op_type: "Relu".into(),
            input: vec!["input".into()],
            output: vec!["logits".into()],
            ..Default::default()
        }],
        input: vec![value("input")],
        output: vec![value("logitz")],
        ..Default::default()
    };
    let proto = ModelProto { graph: Some(graph), ..Default::default() };
    let err = medseg::engine::network::Network::from_proto(&proto).err().expect("refused").to_string();
    assert!(
        err.contains("the graph \"skip\" declares the output \"logitz\", which no node, input or initializer provides"),
        "{err}"
    );
    // The fuzzer's own input (fuzz/artifacts/onnx_load/crash-0a88da34…): output "logiys".
    let bytes = include_bytes!("../fuzz_regressions/onnx_output_nothing_provides.onnx");
    let err = medseg::engine::network::Network::from_onnx_bytes(bytes).err().expect("refused").to_string();
    assert!(err.contains("declares the output \"logiys\", which no node, input or initializer provides"), "{err}");
}
