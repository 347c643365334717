//! A model's manifest resolved once into what the pipelines do: every setting checked when the
//! model is loaded, so a run never meets a size of zero, an axis that does not exist or a
//! missing locator.

use crate::engine::error::LoadError;
use crate::labels::LabelTable;
use crate::models::manifest::{Crop, Decision, Intensity, Manifest, Pipeline};
use crate::volume::blocks::AxisOrder;

/// Largest side, in voxels, of a block a manifest may ask a network to take (patch, locator or
/// main input); 1024 is four times the largest input any shipped model takes.
pub const MAX_SIDE: usize = 1024;

/// Largest number of voxels in such a block (512³).
pub const MAX_VOXELS: usize = 512 * 512 * 512;

/// How a block is fed to a network (axes in network order D, H, W).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Feed {
    /// The whole block at once: input `[1, 1, D, H, W]`.
    Whole,
    /// Overlapping patches blended with a Gaussian, each the mean over the model's folds and
    /// the mirrorings asked for.
    Patches {
        /// Patch size (D, H, W), each in 1..=[`MAX_SIDE`].
        patch: [usize; 3],
        /// Fraction of a patch shared with its neighbour, 0–0.95.
        overlap: f64,
        /// Which network axes (D, H, W) are mirrored at test time.
        mirror: [bool; 3],
    },
    /// 2D slices across `axis` (0, 1 or 2), `batch` (≥ 1) per run.
    Slices {
        /// The axis slices are taken across.
        axis: usize,
        /// Slices per network run.
        batch: usize,
    },
}

/// Where a locator looks and how the box is made (deepbet's two stages).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Locate {
    /// Locator input, network order (D, H, W).
    pub locator_size: [usize; 3],
    /// Main network input, network order.
    pub size: [usize; 3],
    /// A plane belongs to the box when the locator's mask covers more than this fraction of it.
    pub plane_fraction: f64,
    /// Box size factor around its centre.
    pub enlarge: f64,
}

/// Everything a segmentation run needs to know of its model's manifest.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Reorder to the closest RAS orientation first.
    pub canonical: bool,
    /// Resample to FreeSurfer's conformed grid first.
    pub conform: bool,
    /// Resample to this spacing (mm, x y z) first.
    pub spacing: Option<[f64; 3]>,
    /// Intensity scaling before the network.
    pub intensity: Intensity,
    /// Crop to the object before the network.
    pub crop: Option<Crop>,
    /// Which voxel axes the network's D, H, W are.
    pub axes: AxisOrder,
    /// How the (cropped) block is fed; `Whole` for the main network of a located model.
    pub feed: Feed,
    /// The locator stage, for `locate-then-segment` models.
    pub locate: Option<Locate>,
    /// Network outputs to labels.
    pub decision: Decision,
    /// Keep only the largest connected component.
    pub keep_largest: bool,
    /// Fill enclosed holes with label 1.
    pub fill_holes: bool,
    /// Names and colours of the labels (background excluded).
    pub labels: LabelTable,
}

impl Plan {
    /// Resolves and checks `manifest`; an error names the field and what was expected.
    pub fn of(manifest: &Manifest) -> Result<Plan, LoadError> {
        let bad = |field: &str, what: String| LoadError(format!("manifest of {}: {field} {what}", manifest.name));
        let (feed, locate) = match manifest.pipeline {
            Pipeline::Volume => (Feed::Whole, None),
            Pipeline::Patches3d { patch, overlap, ref mirror, ref folds } => {
                check_size(patch).map_err(|e| bad("pipeline.patch", e))?;
                if !(0.0..=0.95).contains(&overlap) {
                    return Err(bad("pipeline.overlap", format!("is {overlap}, expected 0 to 0.95")));
                }
                let mut mirrored = [false; 3];
                for &axis in mirror {
                    if axis > 2 || mirrored[axis] {
                        return Err(bad("pipeline.mirror", format!("is {mirror:?}, expected distinct axes 0, 1, 2")));
                    }
                    mirrored[axis] = true;
                }
                if let Some(first) = folds.first() {
                    if *first != manifest.files[0].path {
                        return Err(bad(
                            "pipeline.folds",
                            format!("starts with {first}, expected files[0] ({})", manifest.files[0].path),
                        ));
                    }
                }
                if let Some(missing) = folds.iter().find(|f| !manifest.files.iter().any(|m| &m.path == *f)) {
                    return Err(bad("pipeline.folds", format!("names {missing}, which is not among the files")));
                }
                (Feed::Patches { patch, overlap, mirror: mirrored }, None)
            }
            Pipeline::Slices2d { axis, batch } => {
                if axis > 2 {
                    return Err(bad("pipeline.axis", format!("is {axis}, expected 0 (D), 1 (H) or 2 (W)")));
                }
                if batch == 0 || batch > MAX_SIDE {
                    return Err(bad("pipeline.batch", format!("is {batch}, expected 1 to {MAX_SIDE}")));
                }
                (Feed::Slices { axis, batch }, None)
            }
            Pipeline::LocateThenSegment { locator_size, size, plane_fraction, enlarge, .. } => {
                check_size(locator_size).map_err(|e| bad("pipeline.locator_size", e))?;
                check_size(size).map_err(|e| bad("pipeline.size", e))?;
                if !(0.0..1.0).contains(&plane_fraction) {
                    return Err(bad("pipeline.plane_fraction", format!("is {plane_fraction}, expected 0 to below 1")));
                }
                if !(enlarge.is_finite() && (0.1..=10.0).contains(&enlarge)) {
                    return Err(bad("pipeline.enlarge", format!("is {enlarge}, expected 0.1 to 10")));
                }
                (Feed::Whole, Some(Locate { locator_size, size, plane_fraction, enlarge }))
            }
        };
        if let Decision::Threshold { threshold, .. } = manifest.postprocess.decision {
            if threshold.is_nan() {
                return Err(bad("postprocess.decision.threshold", "is NaN, expected a number".into()));
            }
        }
        if let Some(crop) = manifest.preprocess.crop {
            if crop.threshold.is_nan() {
                return Err(bad("preprocess.crop.threshold", "is NaN, expected a number".into()));
            }
        }
        let preprocess = &manifest.preprocess;
        if let Some(spacing) = preprocess.spacing {
            if !spacing.iter().all(|s| s.is_finite() && (0.05..=50.0).contains(s)) {
                return Err(bad("preprocess.spacing", format!("is {spacing:?}, expected 0.05 to 50 mm per axis")));
            }
        }
        Ok(Plan {
            canonical: preprocess.canonical,
            conform: preprocess.conform,
            spacing: preprocess.spacing,
            intensity: preprocess.intensity.clone(),
            crop: preprocess.crop,
            axes: if preprocess.transpose { AxisOrder::Xyz } else { AxisOrder::Zyx },
            feed,
            locate,
            decision: manifest.postprocess.decision.clone(),
            keep_largest: manifest.postprocess.keep_largest,
            fill_holes: manifest.postprocess.fill_holes,
            labels: LabelTable { labels: manifest.labels.iter().filter(|l| l.value != 0).cloned().collect() },
        })
    }
}

/// Checks a network input size: every side 1..=[`MAX_SIDE`], at most [`MAX_VOXELS`] in all.
fn check_size(size: [usize; 3]) -> Result<(), String> {
    if size.iter().any(|&s| s == 0 || s > MAX_SIDE) {
        return Err(format!("is {size:?}, expected each side 1 to {MAX_SIDE}"));
    }
    if size.iter().product::<usize>() > MAX_VOXELS {
        return Err(format!("is {size:?}, more than {MAX_VOXELS} voxels"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(pipeline: &str) -> Manifest {
        let text = format!(
            r#"{{"name":"m","title":"t","description":"d","licence":"l","source":"s","format":"onnx",
            "files":[{{"path":"m.onnx","sha256":"00","bytes":1}}],
            "preprocess":{{"conform":false,"intensity":{{"kind":"min-max"}},"crop":null,"transpose":true}},
            "pipeline":{pipeline},
            "postprocess":{{"decision":{{"kind":"argmax"}},"keep_largest":false,"fill_holes":false}},
            "labels":[{{"value":0,"name":"bg","rgb":[0,0,0]}},{{"value":1,"name":"fg","rgb":[255,0,0]}}]}}"#
        );
        Manifest::from_json(&text).unwrap()
    }

    #[test]
    fn a_valid_manifest_resolves_once() {
        let plan = Plan::of(&manifest(r#"{"kind":"patches3d","patch":[64,64,64],"overlap":0.5}"#)).unwrap();
        assert_eq!(plan.feed, Feed::Patches { patch: [64, 64, 64], overlap: 0.5, mirror: [false; 3] });
        assert_eq!(plan.axes, AxisOrder::Xyz);
        assert_eq!(plan.labels.labels.len(), 1, "background is not a label");
    }

    #[test]
    fn impossible_sizes_are_refused_with_the_field_named() {
        for (pipeline, field) in [
            (r#"{"kind":"patches3d","patch":[0,0,0],"overlap":0.5}"#, "pipeline.patch"),
            (r#"{"kind":"patches3d","patch":[100000,100000,100000],"overlap":0.5}"#, "pipeline.patch"),
            (r#"{"kind":"patches3d","patch":[8,8,8],"overlap":2}"#, "pipeline.overlap"),
            (r#"{"kind":"patches3d","patch":[8,8,8],"overlap":0.5,"mirror":[0,3]}"#, "pipeline.mirror"),
            (r#"{"kind":"patches3d","patch":[8,8,8],"overlap":0.5,"mirror":[1,1]}"#, "pipeline.mirror"),
            (r#"{"kind":"patches3d","patch":[8,8,8],"overlap":0.5,"folds":["other.onnx"]}"#, "pipeline.folds"),
            (r#"{"kind":"patches3d","patch":[8,8,8],"overlap":0.5,"folds":["m.onnx","f1.onnx"]}"#, "pipeline.folds"),
            (r#"{"kind":"slices2d","axis":3,"batch":1}"#, "pipeline.axis"),
            (r#"{"kind":"slices2d","axis":0,"batch":0}"#, "pipeline.batch"),
            (
                r#"{"kind":"locate-then-segment","locator":"m.onnx","locator_size":[0,0,0],"size":[8,8,8],"plane_fraction":0.1,"enlarge":1.2}"#,
                "pipeline.locator_size",
            ),
            (
                r#"{"kind":"locate-then-segment","locator":"m.onnx","locator_size":[8,8,8],"size":[512,512,1024],"plane_fraction":0.1,"enlarge":1.2}"#,
                "pipeline.size",
            ),
        ] {
            let err = Plan::of(&manifest(pipeline)).unwrap_err().to_string();
            assert!(err.contains(field) && err.starts_with("not a usable model"), "{pipeline}: {err}");
        }
    }
}
