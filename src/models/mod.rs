//! Models: manifests, the catalog, the TF.js importer, and the one loader that reads a model's
//! files, checks each against its pinned SHA-256 and parses the networks.

pub mod catalog;
pub mod manifest;
pub mod tfjs;

use crate::engine::error::LoadError;
use crate::engine::gpu::Accelerator;
use crate::engine::network::{parse_onnx, Network};
use crate::engine::streaming::Streamed;
use manifest::{sha256_hex, Manifest, ModelFile, ModelFormat, Pipeline};

/// A segmentation model ready to run: its manifest and its networks.
pub struct Model {
    /// What the model is and how to run it.
    pub manifest: Manifest,
    /// The network (from the manifest's first file).
    pub network: Network,
    /// The same network as plane-streamed stages, when it is a chain of convolutions (see
    /// `engine::streaming`).
    pub streamed: Option<Streamed>,
    /// The locator network of a `locate-then-segment` pipeline.
    pub locator: Option<Network>,
    /// A `patches3d` ensemble's other folds (the first fold is `network`).
    pub other_folds: Vec<Network>,
}

/// Reads a model file through `read` (by relative path).
pub type ReadFile<'a> = &'a mut dyn FnMut(&str) -> Result<Vec<u8>, String>;

/// Checks `bytes` against the size and SHA-256 that `file` pins.
pub fn check_pinned(file: &ModelFile, bytes: &[u8]) -> Result<(), LoadError> {
    if bytes.len() as u64 != file.bytes {
        return Err(LoadError(format!(
            "{}: the file is {} bytes, the manifest declares {}; the file is damaged or a different version",
            file.path,
            bytes.len(),
            file.bytes
        )));
    }
    let digest = sha256_hex(bytes);
    if digest != file.sha256 {
        return Err(LoadError(format!(
            "{}: SHA-256 is {digest}, the manifest pins {}; the file is damaged or a different version",
            file.path, file.sha256
        )));
    }
    Ok(())
}

/// Reads every file through `read`, each checked against its pinned SHA-256.
pub fn read_pinned(files: &[ModelFile], read: ReadFile) -> Result<Vec<Vec<u8>>, LoadError> {
    files
        .iter()
        .map(|file| {
            let bytes = read(&file.path).map_err(|e| LoadError(format!("{}: {e}", file.path)))?;
            check_pinned(file, &bytes)?;
            Ok(bytes)
        })
        .collect()
}

impl Model {
    /// Every network a block goes through and whose outputs are averaged: `network`, then the
    /// other folds.
    pub fn ensemble(&self) -> Vec<&Network> {
        std::iter::once(&self.network).chain(&self.other_folds).collect()
    }

    /// Runs this model's networks on `accelerator`'s GPU, or on the CPU (`None`).
    pub fn use_accelerator(&mut self, accelerator: Option<std::sync::Arc<Accelerator>>) {
        if let Some(locator) = self.locator.as_mut() {
            locator.use_accelerator(accelerator.clone());
        }
        if let Some(streamed) = self.streamed.as_mut() {
            streamed.use_accelerator(accelerator.clone());
        }
        for fold in &mut self.other_folds {
            fold.use_accelerator(accelerator.clone());
        }
        self.network.use_accelerator(accelerator);
    }

    /// Loads a model from its manifest, reading each listed file through `read` and checking
    /// its SHA-256 against the manifest.
    pub fn load(manifest: Manifest, read: ReadFile) -> Result<Model, LoadError> {
        manifest.check()?;
        let files = read_pinned(&manifest.files, read)?;
        let proto = match manifest.format {
            ModelFormat::Onnx => parse_onnx(&files[0])?,
            ModelFormat::TfjsLayers => {
                let json = std::str::from_utf8(&files[0])
                    .map_err(|_| LoadError(format!("{} is not UTF-8 JSON", manifest.files[0].path)))?;
                let listed = tfjs::shard_paths(json)?;
                let shards: Vec<&[u8]> = listed
                    .iter()
                    .map(|p| {
                        manifest.files.iter().position(|f| &f.path == p).map(|i| files[i].as_slice()).ok_or_else(|| {
                            LoadError(format!("model.json needs the weight file {p}, which the manifest does not list"))
                        })
                    })
                    .collect::<Result<_, _>>()?;
                tfjs::to_onnx(json, &shards)?
            }
        };
        let network = Network::from_proto(&proto)?;
        let streamed = Streamed::from_proto(&proto);
        let network_named = |path: &String, role: &str| {
            let index =
                manifest.files.iter().position(|f| &f.path == path).ok_or_else(|| {
                    LoadError(format!("the pipeline's {role} {path} is not among the manifest's files"))
                })?;
            Network::from_onnx_bytes(&files[index])
        };
        let (locator, other_folds) = match &manifest.pipeline {
            Pipeline::LocateThenSegment { locator, .. } => (Some(network_named(locator, "locator")?), Vec::new()),
            Pipeline::Patches3d { folds, .. } => {
                (None, folds.iter().skip(1).map(|f| network_named(f, "fold")).collect::<Result<_, _>>()?)
            }
            _ => (None, Vec::new()),
        };
        Ok(Model { manifest, network, streamed, locator, other_folds })
    }
}
