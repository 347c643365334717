//! Models: loading ONNX and brainchop's TF.js layers format into a runnable network.

pub mod tfjs;

use thiserror::Error;

/// Why a model could not be loaded or run.
#[derive(Debug, Error)]
pub enum ModelError {
    /// The model file is not what it claims to be.
    #[error("not a usable model: {0}")]
    Format(String),
    /// The scan or input does not fit the model.
    #[error("the input does not fit the model: {0}")]
    Shape(String),
    /// The engine failed while running.
    #[error("inference failed: {0}")]
    Run(String),
    /// The user cancelled.
    #[error("cancelled")]
    Cancelled,
}
