//! Segmentation: scan → (canonical, conform) → intensity scaling → crop → network (whole,
//! patches or slices; see [`windows`]) → labels → post-processing → back onto the scan's own
//! grid. A [`Segmenter`] holds a loaded model with its manifest resolved once into a [`Plan`].

pub(crate) mod located;
pub(crate) mod plan;
pub mod scaling;
pub(crate) mod windows;

use rayon::prelude::*;
use std::sync::Arc;

use crate::engine::error::{zeroed, LoadError, RunError};
use crate::engine::gpu::Accelerator;
use crate::labels::LabelMap;
use crate::models::manifest::Crop;
use crate::models::Model;
use crate::postprocess;
use crate::volume::blocks::{extract, paste, VoxelBox};
use crate::volume::intensity::quantiles;
use crate::volume::resample::{resample_linear, resample_nearest, Grid};
use crate::volume::Volume;
use located::segment_located;
use plan::{Feed, Plan};
use scaling::Scaling;
use windows::run_block_labels;

/// Reports progress: `(stage, fraction 0–1 of that stage)`.
pub type ProgressFn<'a> = &'a mut dyn FnMut(&str, f64);

/// A segmentation model ready to run on scans: its networks and its resolved plan.
pub struct Segmenter {
    /// The loaded model (manifest and networks).
    pub model: Model,
    /// What its manifest asks for, checked.
    pub plan: Plan,
}

impl Segmenter {
    /// Resolves `model`'s manifest; an error when a setting is impossible or a network is missing.
    pub fn new(model: Model) -> Result<Segmenter, LoadError> {
        let plan = Plan::of(&model.manifest)?;
        if plan.locate.is_some() && model.locator.is_none() {
            return Err(LoadError("a locate-then-segment model needs its locator network".into()));
        }
        Ok(Segmenter { model, plan })
    }

    /// Runs the networks on `accelerator`'s GPU, or on the CPU (`None`).
    pub fn use_accelerator(&mut self, accelerator: Option<Arc<Accelerator>>) {
        self.model.use_accelerator(accelerator);
    }

    /// How many network runs segmenting `scan` takes (patches × mirrorings × folds for
    /// `patches3d`; 1 for a whole volume, 2 with a locator; slices ÷ batch), for time estimates.
    /// An error when resampling to the manifest's spacing would make too large a grid.
    pub fn network_runs(&self, scan: &Volume) -> Result<usize, RunError> {
        let plan = &self.plan;
        let mut grid = Grid::of(scan);
        if plan.canonical {
            grid = grid.closest_canonical();
        }
        if plan.conform {
            grid = Grid::conformed_for(&grid);
        }
        if let Some(spacing) = plan.spacing {
            grid = respaced(&grid, spacing)?;
        }
        let dhw = plan.axes.dhw(grid.shape);
        Ok(match plan.feed {
            Feed::Whole => 1 + usize::from(plan.locate.is_some()),
            Feed::Patches { patch, overlap, mirror } => {
                windows::patch_runs(dhw, patch, overlap, mirror, self.model.ensemble().len())
            }
            Feed::Slices { axis, batch } => dhw[axis].div_ceil(batch),
        })
    }

    /// Segments volume 0 of `scan`; the label map is on the scan's own grid.
    pub async fn segment(&self, scan: &Volume, progress: ProgressFn<'_>) -> Result<LabelMap, RunError> {
        let plan = &self.plan;
        progress("preparing the scan", 0.0);
        let scan_grid = Grid::of(scan);
        let values = scan.volume_f32(0).map_err(|e| RunError::Shape(e.to_string()))?;
        let (values, grid) = if plan.canonical {
            let canonical = scan_grid.closest_canonical();
            (resample_nearest(values, &scan_grid, &canonical), canonical)
        } else {
            (values, scan_grid.clone())
        };
        let (values, grid) = if plan.conform { conform(values, &grid) } else { (values, grid) };
        let (values, grid) = match plan.spacing {
            Some(spacing) => {
                let target = respaced(&grid, spacing)?;
                (resample_linear(&values, &grid, &target), target)
            }
            None => (values, grid),
        };
        let mut labels = match (plan.locate, self.model.locator.as_ref()) {
            (Some(locate), Some(locator)) => {
                let labels = segment_located(&values, grid.shape, locator, &self.model, plan, locate, progress).await?;
                drop(values); // the float volume is not needed past the networks
                labels
            }
            _ => self.segment_cropped(values, grid.shape, progress).await?,
        };
        progress("post-processing", 0.0);
        if plan.keep_largest {
            postprocess::keep_largest_component(&mut labels, grid.shape);
        }
        if plan.fill_holes {
            postprocess::fill_holes(&mut labels, grid.shape, 1);
        }
        progress("resampling to the scan", 0.0);
        let values = resample_nearest(labels, &grid, &scan_grid);
        progress("done", 1.0);
        Ok(LabelMap::on_grid_of(scan, values, plan.labels.clone()))
    }

    /// Scales, crops (when the plan asks), runs the network over the block as the plan says
    /// and decides labels; returns labels on the same grid (0 outside the crop).
    async fn segment_cropped(
        &self,
        values: Vec<f32>,
        shape: [usize; 3],
        progress: ProgressFn<'_>,
    ) -> Result<Vec<u16>, RunError> {
        let plan = &self.plan;
        let scaled = Scaling::fit(&values, &plan.intensity).apply(&values);
        let bbox = match plan.crop {
            Some(crop) => bounding_box(&values, shape, crop),
            None => Some([[0, shape[0]], [0, shape[1]], [0, shape[2]]]),
        };
        drop(values);
        let mut labels = zeroed::<u16>(scaled.len(), "the label map")?;
        let Some(bbox) = bbox else { return Ok(labels) };
        let (input, size) = extract(&scaled, shape, bbox);
        drop(scaled);
        let input = plan.axes.to_network_order(input, size);
        let dhw = plan.axes.dhw(size);
        let model = &self.model;
        let cropped = run_block_labels(
            &model.ensemble(),
            model.streamed.as_ref(),
            &plan.feed,
            input,
            dhw,
            &plan.decision,
            &mut |f| progress("running the model", f),
        )
        .await?;
        paste(&mut labels, shape, &plan.axes.to_block(cropped, size), bbox);
        Ok(labels)
    }
}

/// `grid` resampled to `spacing` mm ([`Grid::with_spacing`]); an error when that grid would hold
/// more than [`plan::MAX_VOXELS`] voxels (a header's spacing can be anything: the count is
/// checked without overflowing).
fn respaced(grid: &Grid, spacing: [f64; 3]) -> Result<Grid, RunError> {
    let target = grid.with_spacing(spacing);
    let voxels = target.shape.iter().try_fold(1usize, |all, &n| all.checked_mul(n));
    if voxels.is_none_or(|n| n > plan::MAX_VOXELS) {
        return Err(RunError::Shape(format!(
            "resampled to {spacing:?} mm this scan would be {:?} voxels, more than the {} this model can take",
            target.shape,
            plan::MAX_VOXELS
        )));
    }
    Ok(target)
}

/// FreeSurfer-style conform: 256³ 1 mm LIA, intensities in 0–255. A scan already on that grid
/// with values in 0–255 is used unchanged.
fn conform(values: Vec<f32>, grid: &Grid) -> (Vec<f32>, Grid) {
    let target = Grid::conformed_for(grid);
    let in_range = values.iter().all(|v| (0.0..=255.0).contains(v));
    if grid.matches(&target, 1e-3) && in_range {
        return (values, target);
    }
    let resampled = resample_linear(&values, grid, &target);
    // Robust rescale as FastSurfer's conform: minimum → 0, 99.9th percentile → 255, clipped, rounded.
    let q = quantiles(&resampled, &[0.0, 0.999]).unwrap_or(vec![0.0, 1.0]);
    let (lo, hi) = (q[0], q[1].max(q[0] + f32::EPSILON));
    let scaled = resampled.par_iter().map(|v| ((v - lo) / (hi - lo) * 255.0).clamp(0.0, 255.0).round()).collect();
    (scaled, target)
}

/// Bounding box of voxels above the crop's threshold, padded; `None` when no voxel is above it.
fn bounding_box(values: &[f32], shape: [usize; 3], crop: Crop) -> Option<VoxelBox> {
    let [nx, ny, _] = shape;
    let mut lo = [usize::MAX; 3];
    let mut hi = [0usize; 3];
    for (i, &v) in values.iter().enumerate() {
        if f64::from(v) > crop.threshold {
            let p = [i % nx, (i / nx) % ny, i / (nx * ny)];
            for a in 0..3 {
                lo[a] = lo[a].min(p[a]);
                hi[a] = hi[a].max(p[a] + 1);
            }
        }
    }
    if lo[0] == usize::MAX {
        return None;
    }
    Some(std::array::from_fn(|a| [lo[a].saturating_sub(crop.pad), hi[a].saturating_add(crop.pad).min(shape[a])]))
}
