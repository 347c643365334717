//! The engine: networks parsed from ONNX and run by tract on the CPU or by the GPU executor.
//! It knows tensors and graphs, nothing of scans, manifests or label maps.
//!
//! - [`network`]: a parsed network, planned once per input shape, run many times.
//! - [`streaming`]: chains of convolutions run a few planes at a time (brainchop's MeshNets).
//! - [`gpu`]: the wgpu device, WGSL kernels and the graph executor with CPU fallback.
//! - [`onnx_graph`]: small builders for ONNX graphs made in memory.
//! - [`softmax`]: the channel softmax networks end with, run outside tract.
//! - [`profile`]: per-node times of a network's CPU run (`medseg profile`).
//! - [`dequantize`]: int8 weights made float32 once, when a graph loads.
//! - [`deconv`]: 3D transposed convolutions rewritten for tract (a parallel scatter).
//! - [`parallel_ops`]: parallel stand-ins for tract's serial padding, max-pooling and row sums.
//! - `broadcast`: parallel additions and products of tensors of different shapes.
//! - [`error`], [`tensor`]: what the layers above see of the engine.

mod broadcast;
pub mod deconv;
pub mod dequantize;
pub(crate) mod error;
pub mod gpu;
pub mod network;
pub mod onnx_graph;
pub mod parallel_ops;
pub mod profile;
pub mod softmax;
pub mod streaming;
pub(crate) mod tensor;
pub mod threads;
