//! Small builders for ONNX graphs made in memory (the TF.js importer, test networks).

use tract_onnx::pb::tensor_shape_proto::{dimension, Dimension};
use tract_onnx::pb::{
    tensor_proto::DataType, type_proto, GraphProto, ModelProto, OperatorSetIdProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};

/// Wraps a graph as an opset-13 model.
pub fn model(graph: GraphProto, producer: &str) -> ModelProto {
    ModelProto {
        ir_version: 7,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 13 }],
        producer_name: producer.into(),
        graph: Some(graph),
        ..Default::default()
    }
}

/// A float32 graph input or output, with fixed dims when given.
pub fn float_value(name: &str, dims: Option<&[i64]>) -> ValueInfoProto {
    let shape = dims.map(|dims| TensorShapeProto {
        dim: dims
            .iter()
            .map(|&d| Dimension { value: Some(dimension::Value::DimValue(d)), ..Default::default() })
            .collect(),
    });
    let tensor = type_proto::Tensor { elem_type: DataType::Float as i32, shape };
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto { value: Some(type_proto::Value::TensorType(tensor)), ..Default::default() }),
        ..Default::default()
    }
}
