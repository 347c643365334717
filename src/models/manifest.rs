//! Model manifests (JSON): everything the pipeline needs to run a model, so a new model needs
//! no code — files and their SHA-256, input, preprocessing, pipeline kind, post-processing,
//! labels, licence and source.

use serde::{Deserialize, Serialize};

use crate::engine::error::LoadError;
use crate::labels::Label;

/// A model's manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Short identifier, e.g. "model30chan18cls".
    pub name: String,
    /// Human title shown in the model picker.
    pub title: String,
    /// What it segments, from what kind of scan.
    pub description: String,
    /// Licence of the weights.
    pub licence: String,
    /// Where the weights come from (project, version or commit).
    pub source: String,
    /// How the files are to be read.
    pub format: ModelFormat,
    /// Every file of the model with its SHA-256; for `tfjs-layers` the first is `model.json`.
    pub files: Vec<ModelFile>,
    /// What goes into the network.
    pub preprocess: Preprocess,
    /// How the volume is fed to the network.
    pub pipeline: Pipeline,
    /// How outputs become labels.
    pub postprocess: Postprocess,
    /// Names and colours of the output labels (value 0 is background).
    pub labels: Vec<Label>,
}

/// Model file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelFormat {
    /// One `.onnx` file, input `[1, 1, D, H, W]`, output `[1, C, D, H, W]`.
    Onnx,
    /// brainchop's TF.js layers format (`model.json` + weight shards).
    TfjsLayers,
}

/// One file of a model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    /// Path relative to the model's folder.
    pub path: String,
    /// Lower-case hex SHA-256 of the file's bytes.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// Preprocessing before the network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preprocess {
    /// Resample to FreeSurfer's conformed grid (256³, 1 mm, LIA, uint8 range) first.
    pub conform: bool,
    /// Reorder the voxels (no interpolation) to the closest RAS orientation first, as nibabel's
    /// `as_closest_canonical`.
    #[serde(default)]
    pub canonical: bool,
    /// Resample to this voxel spacing in mm (x, y, z of the scan's axes, after `canonical`) with
    /// trilinear interpolation before scaling, as nnU-Net-style models expect; the labels go back
    /// onto the scan's own grid. The new grid covers the same extent (skimage's `resize`).
    #[serde(default)]
    pub spacing: Option<[f64; 3]>,
    /// Intensity scaling.
    pub intensity: Intensity,
    /// Crop to the bounding box of voxels above `threshold` (after conforming), with `pad` voxels.
    pub crop: Option<Crop>,
    /// Feed the volume as `[D, H, W] = [x, y, z]` instead of `[z, y, x]` (brainchop's
    /// `enableTranspose`).
    pub transpose: bool,
}

/// Intensity scaling, computed over the whole (conformed) volume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Intensity {
    /// (v − min) / (max − min).
    MinMax,
    /// (v − q(lo)) / (q(hi) − q(lo)), quantiles as fractions.
    Quantiles {
        /// Lower quantile, e.g. 0.05.
        lo: f64,
        /// Upper quantile, e.g. 0.95.
        hi: f64,
    },
    /// (v − mean) / std.
    ZScore,
    /// c = clip((v − q(lo)) / (q(hi) − q(lo)), 0, 1), then `mean + std · (c − mean(c)) / std(c)`
    /// (sample standard deviation), as deepbet.
    QuantileStandardize {
        /// Lower quantile, e.g. 0.005.
        lo: f64,
        /// Upper quantile, e.g. 0.995.
        hi: f64,
        /// Mean of the result.
        mean: f64,
        /// Standard deviation of the result.
        std: f64,
    },
    /// Clip to [level − width/2, level + width/2], then scale to [0, 1].
    CtWindow {
        /// Window centre (HU).
        level: f64,
        /// Window width (HU).
        width: f64,
    },
}

/// Cropping to the object before inference.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crop {
    /// Voxels above this value define the bounding box.
    pub threshold: f64,
    /// Voxels added on every side.
    pub pad: usize,
}

/// How the network sees the volume (axes in network order D, H, W).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Pipeline {
    /// The whole (cropped) volume at once: input `[1, 1, D, H, W]`.
    Volume,
    /// Overlapping patches `[1, 1, pd, ph, pw]`, blended with a Gaussian (σ = patch/8); each
    /// patch's output is the mean over `folds` × the mirrorings of `mirror` (nnU-Net's test-time
    /// augmentation and fold ensembling).
    Patches3d {
        /// Patch size (D, H, W).
        patch: [usize; 3],
        /// Fraction of a patch shared with its neighbour (0–0.95), e.g. 0.5.
        overlap: f64,
        /// Network axes (0 = D, 1 = H, 2 = W) mirrored at test time: every combination of flips
        /// of these axes is run and the outputs, flipped back, averaged (empty: none).
        #[serde(default)]
        mirror: Vec<usize>,
        /// Fold networks whose outputs are averaged (files of the manifest; the first is
        /// `files[0]`). Empty: `files[0]` alone.
        #[serde(default)]
        folds: Vec<String>,
    },
    /// Two networks, as deepbet: the locator runs on the whole volume resized (nearest) to
    /// `locator_size`; the bounding box of its largest foreground component, enlarged by
    /// `enlarge`, is cut from the full-resolution volume, resized to `size` and segmented by the
    /// main network; the result is resized back into the box. Intensity statistics come from the
    /// locator's input.
    LocateThenSegment {
        /// The locator network's file (one of `files`; the main network is `files[0]`).
        locator: String,
        /// Input size (D, H, W) of the locator.
        locator_size: [usize; 3],
        /// Input size (D, H, W) of the main network.
        size: [usize; 3],
        /// An index along an axis belongs to the box when the mean of the locator's mask over
        /// that plane exceeds this fraction.
        plane_fraction: f64,
        /// Factor the box's size is multiplied by around its centre.
        enlarge: f64,
    },
    /// Slices across `axis` (0 = D, 1 = H, 2 = W) as 2D images `[batch, 1, rows, cols]`.
    Slices2d {
        /// The axis the slices are taken across.
        axis: usize,
        /// Slices per network run.
        batch: usize,
    },
}

/// From network outputs to labels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Postprocess {
    /// Argmax over channels, or one channel thresholded.
    pub decision: Decision,
    /// Keep only the largest connected component of the foreground.
    pub keep_largest: bool,
    /// Fill enclosed holes of the foreground (with label 1).
    pub fill_holes: bool,
}

/// Turning logits or probabilities into labels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Decision {
    /// Label = index of the largest channel.
    Argmax,
    /// Label 1 where channel `channel` exceeds `threshold`.
    Threshold {
        /// Which output channel.
        channel: usize,
        /// Threshold on that channel's values.
        threshold: f32,
    },
}

/// `models/litemedsam/medsam.json`: what the MedSAM model is and its two files, pinned by SHA-256.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MedSamManifest {
    /// Short identifier.
    pub name: String,
    /// Human title.
    pub title: String,
    /// Licence of the weights.
    pub licence: String,
    /// Where the weights come from.
    pub source: String,
    /// The image encoder (`image` [1,3,256,256] → `image_embeddings` [1,256,64,64]).
    pub encoder: ModelFile,
    /// The mask decoder (`image_embeddings`, `boxes` [1,1,4] → `low_res_masks`, `iou_predictions`).
    pub decoder: ModelFile,
}

impl MedSamManifest {
    /// Parses `medsam.json`.
    pub fn from_json(json: &str) -> Result<MedSamManifest, LoadError> {
        serde_json::from_str(json).map_err(|e| LoadError(format!("MedSAM manifest: {e}")))
    }
}

impl Manifest {
    /// Parses a manifest; a missing or unknown field is an error naming it.
    pub fn from_json(text: &str) -> Result<Manifest, LoadError> {
        let manifest: Manifest = serde_json::from_str(text).map_err(|e| LoadError(format!("model manifest: {e}")))?;
        manifest.check()?;
        Ok(manifest)
    }

    /// Checks what JSON parsing cannot: a name that is one plain folder name, at least one
    /// file, and every file path a plain relative path inside the model's folder (no absolute
    /// path, `..`, `.`, drive or backslash), so reading or fetching the model stays in its folder.
    pub fn check(&self) -> Result<(), LoadError> {
        if !plain_relative(&self.name) || self.name.contains('/') {
            return Err(LoadError(format!("model manifest: the name {:?} is not a plain folder name", self.name)));
        }
        if self.files.is_empty() {
            return Err(LoadError(format!("model manifest of {:?}: \"files\" lists no file", self.name)));
        }
        for file in &self.files {
            if !plain_relative(&file.path) {
                return Err(LoadError(format!(
                    "model manifest of {:?}: file path {:?} is not a plain relative path inside the model's folder",
                    self.name, file.path
                )));
            }
        }
        Ok(())
    }

    /// The manifest as `mode` runs it: for [`RunMode::Fast`], the first fold alone (the other
    /// folds' files are left out, so they are neither read nor fetched) and no mirroring.
    pub fn for_mode(&self, mode: RunMode) -> Manifest {
        let mut out = self.clone();
        if let (RunMode::Fast, Pipeline::Patches3d { mirror, folds, .. }) = (mode, &mut out.pipeline) {
            mirror.clear();
            let dropped: Vec<String> = folds.drain(1.min(folds.len())..).collect();
            out.files.retain(|f| !dropped.contains(&f.path));
        }
        out
    }
}

/// Whether `path` names something inside the folder it is joined to: relative, made of plain
/// names only (no root, no `..`, no `.`, no drive, no backslash).
fn plain_relative(path: &str) -> bool {
    use std::path::{Component, Path};
    !path.is_empty()
        && !path.contains(['\\', ':'])
        && Path::new(path).components().all(|c| matches!(c, Component::Normal(_)))
}

/// How much of a model's ensemble a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMode {
    /// The first fold alone, no mirroring.
    Fast,
    /// Every fold and every mirroring the manifest lists.
    Accurate,
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_field_is_named() {
        let err = Manifest::from_json(r#"{"name":"x"}"#).unwrap_err().to_string();
        assert!(err.contains("missing field"), "{err}");
        assert!(err.contains("title"), "{err}");
    }

    #[test]
    fn file_paths_must_stay_inside_the_models_folder() {
        let base = r#"{"name":"m","title":"t","description":"d","licence":"l","source":"s","format":"onnx",
            "files":[{"path":PATH,"sha256":"00","bytes":1}],
            "preprocess":{"conform":false,"intensity":{"kind":"min-max"},"crop":null,"transpose":false},
            "pipeline":{"kind":"volume"},
            "postprocess":{"decision":{"kind":"argmax"},"keep_largest":false,"fill_holes":false},"labels":[]}"#;
        for bad in ["/dev/zero", "../../etc/passwd", "a/../../b", "", "C:\\x", "./m.onnx"] {
            let text = base.replace("PATH", &serde_json::to_string(bad).unwrap());
            let err = Manifest::from_json(&text).unwrap_err().to_string();
            assert!(err.contains("not a plain relative path"), "{bad}: {err}");
        }
        assert!(Manifest::from_json(&base.replace("PATH", "\"sub/m.onnx\"")).is_ok());
    }

    #[test]
    fn the_fast_mode_keeps_the_first_fold_without_mirroring() {
        let file = |p: &str| format!(r#"{{"path":"{p}","sha256":"00","bytes":1}}"#);
        let text = format!(
            r#"{{"name":"m","title":"t","description":"d","licence":"l","source":"s","format":"onnx",
            "files":[{},{},{}],
            "preprocess":{{"conform":false,"spacing":[1.5,1.5,1.5],"intensity":{{"kind":"z-score"}},"crop":null,"transpose":false}},
            "pipeline":{{"kind":"patches3d","patch":[8,8,8],"overlap":0.5,"mirror":[0,1,2],"folds":["f0.onnx","f1.onnx"]}},
            "postprocess":{{"decision":{{"kind":"argmax"}},"keep_largest":false,"fill_holes":false}},"labels":[]}}"#,
            file("f0.onnx"),
            file("extra.bin"),
            file("f1.onnx")
        );
        let manifest = Manifest::from_json(&text).unwrap();
        assert_eq!(manifest.for_mode(RunMode::Accurate), manifest);
        let fast = manifest.for_mode(RunMode::Fast);
        assert_eq!(fast.files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), ["f0.onnx", "extra.bin"]);
        let Pipeline::Patches3d { mirror, folds, .. } = &fast.pipeline else { panic!("{:?}", fast.pipeline) };
        assert!(mirror.is_empty());
        assert_eq!(folds, &["f0.onnx"]);
    }

    #[test]
    fn sha256_of_abc() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
