//! Inference: tract networks, and the pipelines that turn a scan into a label map.

pub mod engine;
pub mod located;
pub mod pipeline;
pub mod scaling;
pub mod streaming;
pub mod windows;
