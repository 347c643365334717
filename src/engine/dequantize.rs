//! Int8 weights turned into float32 once, when a graph loads. medseg's models store their
//! convolution weights as int8 with a scale per output channel (`DequantizeLinear` of constant
//! initializers). tract folds those constants while it types the graph, again for every plan,
//! through its generic expansion of the op: 0.47 s of deepbet's run in the page. Here each
//! becomes a float initializer, computed as tract computes it, `(f32(q) − f32(zero point)) ×
//! scale`, so the network's values do not change.

use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{GraphProto, TensorProto};

/// Replaces, in `graph`, each `DequantizeLinear` whose inputs are all int8 or uint8 initializers
/// (with float scales) by the float initializer it computes; its inputs are dropped when nothing
/// else reads them. Returns how many were folded. Anything it does not recognise stays for tract.
pub fn fold_constant_dequantize(graph: &mut GraphProto) -> usize {
    // a subgraph (If, Loop, Scan) may read any of the graph's names: leave such graphs to tract
    if graph.node.iter().any(|n| n.attribute.iter().any(|a| a.g.is_some() || !a.graphs.is_empty())) {
        return 0;
    }
    let mut folded = 0;
    let mut at = 0;
    while at < graph.node.len() {
        let node = &graph.node[at];
        let dequantized = (node.op_type == "DequantizeLinear" && node.domain.is_empty() && node.output.len() == 1)
            .then(|| dequantize(graph, at))
            .flatten();
        let Some(weights) = dequantized else {
            at += 1;
            continue;
        };
        let node = graph.node.remove(at);
        graph.initializer.push(weights);
        for input in node.input.iter().filter(|i| !i.is_empty()) {
            let read =
                graph.node.iter().any(|n| n.input.contains(input)) || graph.output.iter().any(|o| &o.name == input);
            if !read {
                // an old export may also list it as a graph input: without its initializer that
                // would become an input the caller must feed
                graph.initializer.retain(|t| &t.name != input);
                graph.input.retain(|i| &i.name != input);
            }
        }
        folded += 1;
    }
    folded
}

/// The float initializer node `at` of `graph` computes, when its inputs are constants this
/// understands.
fn dequantize(graph: &GraphProto, at: usize) -> Option<TensorProto> {
    let node = &graph.node[at];
    let initializer = |name: &String| graph.initializer.iter().find(|t| &t.name == name);
    let quantized = initializer(node.input.first()?)?;
    let scales = floats(initializer(node.input.get(1)?)?)?;
    let zero_points = match node.input.get(2).filter(|n| !n.is_empty()) {
        Some(name) => integers(initializer(name)?, quantized.data_type)?,
        None => vec![0],
    };
    // blocked quantization (opset 21 `block_size`), other output types and scales of rank > 1
    // stay tract's
    let attribute = |name: &str| node.attribute.iter().find(|a| a.name == name);
    let blocked = attribute("block_size").is_some_and(|a| a.i != 0);
    let not_float = attribute("output_dtype").is_some_and(|a| a.i != 0 && a.i != DataType::Float as i64);
    if blocked || not_float || initializer(node.input.get(1)?)?.dims.len() > 1 {
        return None;
    }
    let values = integers(quantized, quantized.data_type)?;
    let dims: Vec<usize> = quantized.dims.iter().map(|&d| usize::try_from(d).ok()).collect::<Option<_>>()?;
    if values.len() != dims.iter().product::<usize>() || scales.is_empty() {
        return None;
    }
    // per tensor, or per slice along `axis` (default 1, negative from the end)
    let rank = dims.len() as i64;
    let axis = attribute("axis").map_or(1, |a| a.i);
    let axis = if axis < 0 { axis + rank } else { axis };
    let (channels, inner) = if scales.len() == 1 && zero_points.len() == 1 {
        (1, values.len())
    } else {
        let axis = usize::try_from(axis).ok().filter(|&a| a < dims.len())?;
        if scales.len() != dims[axis] || (zero_points.len() != 1 && zero_points.len() != dims[axis]) {
            return None;
        }
        (dims[axis], dims[axis + 1..].iter().product())
    };
    let mut raw = Vec::with_capacity(values.len() * 4);
    for (i, &q) in values.iter().enumerate() {
        let channel = (i / inner.max(1)) % channels;
        let zero_point = zero_points[if zero_points.len() == 1 { 0 } else { channel }];
        let value = (q as f32 - zero_point as f32) * scales[channel];
        raw.extend_from_slice(&value.to_le_bytes());
    }
    Some(TensorProto {
        name: node.output[0].clone(),
        dims: quantized.dims.clone(),
        data_type: DataType::Float as i32,
        raw_data: raw,
        ..Default::default()
    })
}

/// A float32 initializer's values (raw little-endian bytes or `float_data`).
fn floats(tensor: &TensorProto) -> Option<Vec<f32>> {
    if tensor.data_type != DataType::Float as i32 || tensor.data_location == Some(1) {
        return None;
    }
    if tensor.raw_data.is_empty() {
        return Some(tensor.float_data.clone());
    }
    tensor
        .raw_data
        .len()
        .is_multiple_of(4)
        .then(|| tensor.raw_data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

/// An int8 or uint8 initializer's values, as `data_type` (the quantized input's type) says.
fn integers(tensor: &TensorProto, data_type: i32) -> Option<Vec<i32>> {
    if tensor.data_type != data_type || tensor.data_location == Some(1) {
        return None;
    }
    let signed = if data_type == DataType::Int8 as i32 {
        true
    } else if data_type == DataType::Uint8 as i32 {
        false
    } else {
        return None;
    };
    if tensor.raw_data.is_empty() {
        return Some(tensor.int32_data.clone());
    }
    Some(tensor.raw_data.iter().map(|&b| if signed { i32::from(b as i8) } else { i32::from(b) }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::pb::{AttributeProto, NodeProto, ValueInfoProto};

    fn tensor(name: &str, dims: &[i64], data_type: DataType, raw: Vec<u8>) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: data_type as i32,
            raw_data: raw,
            ..Default::default()
        }
    }

    fn f32_bytes(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn per_channel_int8_weights_become_floats_as_tract_computes_them() {
        // 2 output channels × 3 values, scales and zero points per channel (axis 0)
        let q: Vec<u8> = [-128i8, 0, 127, 5, -5, 1].iter().map(|&v| v as u8).collect();
        // an old export lists its initializers among the graph's inputs too
        let input = |name: &str| ValueInfoProto { name: name.into(), ..Default::default() };
        let mut graph = GraphProto {
            input: vec![input("x"), input("w_q"), input("w_scale"), input("w_zp")],
            initializer: vec![
                tensor("w_q", &[2, 3], DataType::Int8, q),
                tensor("w_scale", &[2], DataType::Float, f32_bytes(&[0.1, 0.25])),
                tensor("w_zp", &[2], DataType::Int8, vec![0, 3u8]),
            ],
            node: vec![
                NodeProto {
                    op_type: "DequantizeLinear".into(),
                    input: vec!["w_q".into(), "w_scale".into(), "w_zp".into()],
                    output: vec!["w".into()],
                    attribute: vec![AttributeProto { name: "axis".into(), i: 0, ..Default::default() }],
                    ..Default::default()
                },
                NodeProto {
                    op_type: "Conv".into(),
                    input: vec!["x".into(), "w".into()],
                    output: vec!["y".into()],
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        assert_eq!(fold_constant_dequantize(&mut graph), 1);
        assert_eq!(graph.node.len(), 1, "the DequantizeLinear node is gone");
        let names: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["w"], "its inputs, read by nothing else, are dropped");
        let inputs: Vec<&str> = graph.input.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(inputs, ["x"], "and do not stay behind as graph inputs");
        let w = floats(&graph.initializer[0]).unwrap();
        let expected = [-128.0 * 0.1f32, 0.0, 127.0 * 0.1, (5.0 - 3.0) * 0.25, (-5.0 - 3.0) * 0.25, (1.0 - 3.0) * 0.25];
        assert_eq!(w, expected);
        assert_eq!(graph.initializer[0].dims, [2, 3]);
    }

    #[test]
    fn a_dequantize_of_a_computed_value_stays() {
        let mut graph = GraphProto {
            initializer: vec![tensor("s", &[], DataType::Float, f32_bytes(&[0.5]))],
            node: vec![NodeProto {
                op_type: "DequantizeLinear".into(),
                input: vec!["x".into(), "s".into()],
                output: vec!["y".into()],
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(fold_constant_dequantize(&mut graph), 0);
        assert_eq!(graph.node.len(), 1);
    }
}
