//! Models: loading ONNX and brainchop's TF.js layers format into a runnable network.

pub mod catalog;
pub mod manifest;
pub mod onnx_graph;
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

use crate::infer::engine::Network;
use manifest::{sha256_hex, Manifest, ModelFormat, Pipeline};

/// A model ready to run: its manifest and its network.
pub struct Model {
    /// What the model is and how to run it.
    pub manifest: Manifest,
    /// The network (from the manifest's first file).
    pub network: Network,
    /// The locator network of a `locate-then-segment` pipeline.
    pub locator: Option<Network>,
}

impl Model {
    /// Runs this model's networks on `accelerator`'s GPU, or on the CPU (`None`).
    pub fn use_accelerator(&mut self, accelerator: Option<std::sync::Arc<crate::gpu::Accelerator>>) {
        if let Some(locator) = self.locator.as_mut() {
            locator.use_accelerator(accelerator.clone());
        }
        self.network.use_accelerator(accelerator);
    }

    /// Loads a model from its manifest, reading each listed file through `read` (by relative
    /// path) and checking its SHA-256 against the manifest.
    pub fn load(
        manifest: Manifest,
        read: &mut dyn FnMut(&str) -> Result<Vec<u8>, String>,
    ) -> Result<Model, ModelError> {
        let mut files = Vec::with_capacity(manifest.files.len());
        for file in &manifest.files {
            let bytes = read(&file.path).map_err(|e| ModelError::Format(format!("{}: {e}", file.path)))?;
            let digest = sha256_hex(&bytes);
            if digest != file.sha256 {
                return Err(ModelError::Format(format!(
                    "{}: SHA-256 is {digest}, the manifest pins {}; the file is damaged or a different version",
                    file.path, file.sha256
                )));
            }
            files.push(bytes);
        }
        let network = match manifest.format {
            ModelFormat::Onnx => Network::from_onnx_bytes(&files[0])?,
            ModelFormat::TfjsLayers => {
                let json = std::str::from_utf8(&files[0])
                    .map_err(|_| ModelError::Format(format!("{} is not UTF-8 JSON", manifest.files[0].path)))?;
                let listed = tfjs::shard_paths(json)?;
                let shards: Vec<&[u8]> = listed
                    .iter()
                    .map(|p| {
                        manifest.files.iter().position(|f| &f.path == p).map(|i| files[i].as_slice()).ok_or_else(|| {
                            ModelError::Format(format!(
                                "model.json needs the weight file {p}, which the manifest does not list"
                            ))
                        })
                    })
                    .collect::<Result<_, _>>()?;
                Network::from_proto(&tfjs::to_onnx(json, &shards)?)?
            }
        };
        let locator = match &manifest.pipeline {
            Pipeline::LocateThenSegment { locator, .. } => {
                let index = manifest.files.iter().position(|f| &f.path == locator).ok_or_else(|| {
                    ModelError::Format(format!("the pipeline's locator {locator} is not among the manifest's files"))
                })?;
                Some(Network::from_onnx_bytes(&files[index])?)
            }
            _ => None,
        };
        Ok(Model { manifest, network, locator })
    }
}
