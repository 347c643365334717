//! Importer for brainchop's TF.js "layers-model" format (`model.json` + weight shards): a chain
//! of Conv3D layers with activations, where a `*_gn` convolution is followed by an instance
//! normalization without affine. The chain is translated to an ONNX graph that tract runs.

use std::borrow::Borrow;

use serde::Deserialize;
use tract_onnx::pb::{
    attribute_proto::AttributeType, tensor_proto::DataType, AttributeProto, GraphProto, ModelProto, NodeProto,
    TensorProto,
};

use crate::engine::error::LoadError;
use crate::engine::onnx_graph::{float_value, model as onnx_model};

/// Name of the graph's input and output (as in the meshnet-onnx references).
pub const INPUT: &str = "input";
/// Name of the graph's output.
pub const OUTPUT: &str = "logits";

#[derive(Deserialize)]
struct ModelJson {
    format: Option<String>,
    #[serde(rename = "modelTopology")]
    topology: serde_json::Value,
    #[serde(rename = "weightsManifest")]
    weights_manifest: Vec<WeightGroup>,
}

#[derive(Deserialize)]
struct WeightGroup {
    paths: Vec<String>,
    weights: Vec<WeightSpec>,
}

#[derive(Deserialize)]
struct WeightSpec {
    name: String,
    shape: Vec<usize>,
    dtype: String,
}

/// One layer of the chain, as the importer understands it.
#[derive(Debug, PartialEq)]
enum Layer {
    Conv { name: String, filters: usize, kernel: [usize; 3], dilation: [usize; 3], bias: bool, norm: bool },
    Activation(String),
}

/// The weight shard file names a `model.json` refers to, in order.
pub fn shard_paths(model_json: &str) -> Result<Vec<String>, LoadError> {
    let model: ModelJson = parse(model_json)?;
    Ok(model.weights_manifest.iter().flat_map(|g| g.paths.iter().cloned()).collect())
}

fn parse(model_json: &str) -> Result<ModelJson, LoadError> {
    let model: ModelJson = serde_json::from_str(model_json).map_err(|e| LoadError(format!("model.json: {e}")))?;
    if model.format.as_deref().is_some_and(|f| f != "layers-model") {
        return Err(LoadError(format!(
            "model.json: format {:?} is not supported, expected \"layers-model\"",
            model.format.unwrap_or_default()
        )));
    }
    Ok(model)
}

/// Translates a TF.js layers model into ONNX. `shards` are the bytes of the weight files, in the
/// order [`shard_paths`] lists them.
pub fn to_onnx<S: Borrow<[u8]>>(model_json: &str, shards: &[S]) -> Result<ModelProto, LoadError> {
    let model = parse(model_json)?;
    let layers = layers(&model.topology)?;
    let weights = read_weights(&model.weights_manifest, shards)?;
    let mut graph = GraphProto { name: "tfjs-import".into(), ..Default::default() };
    let mut current = INPUT.to_string();
    let mut channels = 1usize;
    let mut count = 0;
    let mut fresh = |graph_name: &str| {
        count += 1;
        format!("{graph_name}_{count}")
    };
    for layer in &layers {
        match layer {
            Layer::Conv { name, filters, kernel, dilation, bias, norm } => {
                let kernel_weights = weights
                    .get(&format!("{name}/kernel"))
                    .ok_or_else(|| LoadError(format!("weights: {name}/kernel is missing from the manifest")))?;
                let expected = [kernel[0], kernel[1], kernel[2], channels, *filters];
                if kernel_weights.0 != expected {
                    return Err(LoadError(format!(
                        "weights: {name}/kernel has shape {:?}, expected {expected:?}",
                        kernel_weights.0
                    )));
                }
                let w_name = format!("{name}.weight");
                graph.initializer.push(tensor(
                    &w_name,
                    &onnx_kernel_dims(&expected),
                    kernel_to_oidhw(&kernel_weights.1, &expected),
                ));
                let mut inputs = vec![current.clone(), w_name];
                if *bias {
                    let b = weights
                        .get(&format!("{name}/bias"))
                        .ok_or_else(|| LoadError(format!("weights: {name}/bias is missing")))?;
                    if b.0 != [*filters] {
                        return Err(LoadError(format!(
                            "weights: {name}/bias has shape {:?}, expected [{filters}]",
                            b.0
                        )));
                    }
                    let b_name = format!("{name}.bias");
                    graph.initializer.push(tensor(&b_name, &[*filters as i64], b.1.clone()));
                    inputs.push(b_name);
                }
                let out = fresh(name);
                // 'same' padding of a stride-1 dilated conv: dilation × (kernel − 1) / 2 per side.
                let pads: Vec<i64> = (0..6).map(|i| (dilation[i % 3] * (kernel[i % 3] - 1) / 2) as i64).collect();
                graph.node.push(node(
                    "Conv",
                    inputs,
                    &out,
                    vec![
                        ints("dilations", dilation.iter().map(|&d| d as i64).collect()),
                        ints("kernel_shape", kernel.iter().map(|&k| k as i64).collect()),
                        ints("pads", pads),
                        ints("strides", vec![1, 1, 1]),
                    ],
                ));
                current = out;
                channels = *filters;
                if *norm {
                    let (scale, shift) = (format!("{name}.norm_scale"), format!("{name}.norm_shift"));
                    graph.initializer.push(tensor(&scale, &[channels as i64], vec![1.0; channels]));
                    graph.initializer.push(tensor(&shift, &[channels as i64], vec![0.0; channels]));
                    let out = fresh(name);
                    graph.node.push(node(
                        "InstanceNormalization",
                        vec![current, scale, shift],
                        &out,
                        vec![float("epsilon", 1e-5)],
                    ));
                    current = out;
                }
            }
            Layer::Activation(kind) => current = activation(&mut graph, kind, &current, &mut fresh)?,
        }
    }
    graph.node.push(node("Identity", vec![current], OUTPUT, vec![]));
    graph.input.push(float_value(INPUT, None));
    graph.output.push(float_value(OUTPUT, None));
    Ok(onnx_model(graph, "medseg tfjs importer"))
}

/// The chain of layers in a Keras topology (Sequential, or a functional model that is a chain).
fn layers(topology: &serde_json::Value) -> Result<Vec<Layer>, LoadError> {
    let config = topology.get("model_config").unwrap_or(topology);
    let list = config["config"]["layers"]
        .as_array()
        .or_else(|| config["config"].as_array())
        .ok_or_else(|| LoadError("model.json: modelTopology has no layer list".into()))?;
    let mut out = Vec::new();
    for (i, layer) in list.iter().enumerate() {
        let class = layer["class_name"].as_str().unwrap_or_default();
        let c = &layer["config"];
        let name = c["name"].as_str().map(str::to_string).unwrap_or_else(|| format!("layer{i}"));
        if let Some(inbound) = layer["inbound_nodes"].as_array() {
            if inbound.len() > 1 || inbound.first().and_then(|n| n.as_array()).is_some_and(|n| n.len() > 1) {
                return Err(LoadError(format!("layer {name}: only a plain chain of layers is supported")));
            }
        }
        match class {
            "InputLayer" => {}
            "Conv3D" => {
                let triple = |key: &str| -> Result<[usize; 3], LoadError> {
                    let v: Vec<usize> = c[key]
                        .as_array()
                        .map(|a| a.iter().filter_map(|x| x.as_u64().map(|x| x as usize)).collect())
                        .unwrap_or_default();
                    v.try_into().map_err(|_| LoadError(format!("layer {name}: {key} must be three integers")))
                };
                if triple("strides")? != [1, 1, 1] {
                    return Err(LoadError(format!("layer {name}: strides other than 1 are not supported")));
                }
                if c["padding"].as_str() != Some("same") {
                    return Err(LoadError(format!("layer {name}: padding must be \"same\"")));
                }
                if c["data_format"].as_str().is_some_and(|f| f != "channels_last") {
                    return Err(LoadError(format!("layer {name}: data_format must be channels_last")));
                }
                let kernel = triple("kernel_size")?;
                if kernel.iter().any(|k| k % 2 == 0) {
                    return Err(LoadError(format!("layer {name}: even kernel sizes are not supported")));
                }
                let dilation = triple("dilation_rate")?;
                // The 'same' padding, dilation × (kernel − 1) / 2, must be an ONNX (i64) integer.
                let padding = |a: usize| dilation[a].checked_mul(kernel[a] - 1).and_then(|r| i64::try_from(r).ok());
                if dilation.contains(&0) || (0..3).any(|a| padding(a).is_none()) {
                    return Err(LoadError(format!(
                        "layer {name}: kernel_size {kernel:?} with dilation_rate {dilation:?} is not a usable convolution"
                    )));
                }
                // At least one filter: a layer of none leaves the next layer's kernel empty, and
                // then no weight bytes bound the sizes it claims.
                let filters =
                    c["filters"].as_u64().ok_or_else(|| LoadError(format!("layer {name}: filters missing")))?;
                let filters = usize::try_from(filters).ok().filter(|&f| f > 0).ok_or_else(|| {
                    LoadError(format!("layer {name}: filters must be a positive number, not {filters}"))
                })?;
                out.push(Layer::Conv {
                    filters,
                    kernel,
                    dilation,
                    bias: c["use_bias"].as_bool().unwrap_or(true),
                    norm: name.ends_with("_gn"),
                    name: name.clone(),
                });
                if let Some(act) = c["activation"].as_str().filter(|a| *a != "linear") {
                    out.push(Layer::Activation(act.to_string()));
                }
            }
            "Activation" => out.push(Layer::Activation(c["activation"].as_str().unwrap_or("linear").to_string())),
            other => return Err(LoadError(format!("layer {name}: layer type {other} is not supported"))),
        }
    }
    Ok(out)
}

fn activation(
    graph: &mut GraphProto,
    kind: &str,
    input: &str,
    fresh: &mut impl FnMut(&str) -> String,
) -> Result<String, LoadError> {
    let out = fresh(kind);
    match kind {
        "linear" => return Ok(input.to_string()),
        "relu" => graph.node.push(node("Relu", vec![input.into()], &out, vec![])),
        "elu" => graph.node.push(node("Elu", vec![input.into()], &out, vec![float("alpha", 1.0)])),
        "sigmoid" => graph.node.push(node("Sigmoid", vec![input.into()], &out, vec![])),
        "gelu" => {
            // Exact GELU: 0.5 · x · (1 + erf(x / √2)).
            let consts = [("gelu.inv_sqrt2", std::f32::consts::FRAC_1_SQRT_2), ("gelu.one", 1.0), ("gelu.half", 0.5)];
            for (name, v) in consts {
                if !graph.initializer.iter().any(|t| t.name == name) {
                    graph.initializer.push(tensor(name, &[], vec![v]));
                }
            }
            let (scaled, erf, plus) = (fresh("gelu"), fresh("gelu"), fresh("gelu"));
            let half = fresh("gelu");
            graph.node.push(node("Mul", vec![input.into(), "gelu.inv_sqrt2".into()], &scaled, vec![]));
            graph.node.push(node("Erf", vec![scaled], &erf, vec![]));
            graph.node.push(node("Add", vec![erf, "gelu.one".into()], &plus, vec![]));
            graph.node.push(node("Mul", vec![input.into(), "gelu.half".into()], &half, vec![]));
            graph.node.push(node("Mul", vec![half, plus], &out, vec![]));
        }
        other => {
            return Err(LoadError(format!("activation {other:?} is not supported (relu, elu, gelu, sigmoid, linear)")))
        }
    }
    Ok(out)
}

/// Weights by name: (shape, values).
type Weights = std::collections::HashMap<String, (Vec<usize>, Vec<f32>)>;

/// Reads every weight from the concatenated shards.
fn read_weights<S: Borrow<[u8]>>(groups: &[WeightGroup], shards: &[S]) -> Result<Weights, LoadError> {
    let mut map = std::collections::HashMap::new();
    let mut shard_index = 0;
    for group in groups {
        let n = group.paths.len();
        let bytes: Vec<u8> = shards
            .get(shard_index..shard_index + n)
            .ok_or_else(|| {
                LoadError(format!("weights: the manifest lists {} shard(s), {} given", shard_index + n, shards.len()))
            })?
            .concat();
        shard_index += n;
        let mut offset = 0usize;
        for spec in &group.weights {
            if spec.dtype != "float32" {
                return Err(LoadError(format!(
                    "weights: {} has dtype {}, only float32 is supported",
                    spec.name, spec.dtype
                )));
            }
            let end = spec
                .shape
                .iter()
                .try_fold(4usize, |n, &d| n.checked_mul(d))
                .and_then(|size| offset.checked_add(size))
                .ok_or_else(|| {
                    LoadError(format!("weights: the shape {:?} of {} is impossibly large", spec.shape, spec.name))
                })?;
            let raw = bytes.get(offset..end).ok_or_else(|| {
                LoadError(format!(
                    "weights: the shards end before {} ({} bytes needed, {} present)",
                    spec.name,
                    end,
                    bytes.len()
                ))
            })?;
            let values = raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            map.insert(spec.name.clone(), (spec.shape.clone(), values));
            offset = end;
        }
    }
    Ok(map)
}

/// ONNX Conv weight dims [out, in, kd, kh, kw] for a TF.js kernel [kd, kh, kw, in, out].
fn onnx_kernel_dims(tf: &[usize; 5]) -> [i64; 5] {
    [tf[4] as i64, tf[3] as i64, tf[0] as i64, tf[1] as i64, tf[2] as i64]
}

/// Transposes a TF.js kernel [kd, kh, kw, in, out] into ONNX order [out, in, kd, kh, kw].
fn kernel_to_oidhw(values: &[f32], tf: &[usize; 5]) -> Vec<f32> {
    let [kd, kh, kw, cin, cout] = *tf;
    let mut out = vec![0.0; values.len()];
    for d in 0..kd {
        for h in 0..kh {
            for w in 0..kw {
                for i in 0..cin {
                    for o in 0..cout {
                        let src = (((d * kh + h) * kw + w) * cin + i) * cout + o;
                        let dst = (((o * cin + i) * kd + d) * kh + h) * kw + w;
                        out[dst] = values[src];
                    }
                }
            }
        }
    }
    out
}

fn tensor(name: &str, dims: &[i64], values: Vec<f32>) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DataType::Float as i32,
        float_data: values,
        ..Default::default()
    }
}

fn node(op: &str, inputs: Vec<String>, output: &str, attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: output.into(),
        input: inputs,
        output: vec![output.into()],
        attribute,
        ..Default::default()
    }
}

fn ints(name: &str, values: Vec<i64>) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Ints as i32, ints: values, ..Default::default() }
}

fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Float as i32, f: value, ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_transpose_moves_each_weight() {
        // kd=1, kh=1, kw=2, in=2, out=3: value encodes (w, i, o).
        let dims = [1, 1, 2, 2, 3];
        let tf: Vec<f32> = (0..12).map(|x| x as f32).collect();
        let onnx = kernel_to_oidhw(&tf, &dims);
        // ONNX [o][i][0][0][w] == TF [0][0][w][i][o]
        for o in 0..3 {
            for i in 0..2 {
                for w in 0..2 {
                    assert_eq!(onnx[(o * 2 + i) * 2 + w], tf[(w * 2 + i) * 3 + o]);
                }
            }
        }
    }

    #[test]
    fn rejects_unsupported_layers() {
        let json = r#"{"format":"layers-model","modelTopology":{"model_config":{"class_name":"Model","config":{"layers":[
            {"class_name":"Dense","config":{"name":"d"}}]}}},"weightsManifest":[]}"#;
        let err = to_onnx::<Vec<u8>>(json, &[]).unwrap_err().to_string();
        assert!(err.contains("Dense"), "{err}");
        assert!(to_onnx::<Vec<u8>>("{", &[]).unwrap_err().to_string().contains("model.json"));
    }
}
