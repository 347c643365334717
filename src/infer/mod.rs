//! Inference: tract networks, and the pipelines that turn a scan into a label map.

pub mod engine;
pub mod pipeline;
pub mod windows;
