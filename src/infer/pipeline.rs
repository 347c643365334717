//! Segmentation: scan → (conform) → intensity scaling → crop → network (whole, patches or
//! slices; see `windows`) → labels → post-processing → back onto the scan's own grid.

use crate::infer::located::{segment_located, Locate};
use crate::infer::scaling::Scaling;
use crate::infer::windows::run_block_labels;
use crate::labels::{LabelMap, LabelTable};
use crate::models::manifest::Crop;
use crate::models::{Model, ModelError};
use crate::postprocess;
use crate::volume::intensity::quantiles;
use crate::volume::resample::{resample_linear, resample_nearest, Grid};
use crate::volume::Volume;

/// Reports progress: `(stage, fraction 0–1 of that stage)`; returning false cancels the run.
pub type ProgressFn<'a> = &'a mut dyn FnMut(&str, f64) -> bool;

fn check(progress: &mut ProgressFn, stage: &str, fraction: f64) -> Result<(), ModelError> {
    if progress(stage, fraction) {
        Ok(())
    } else {
        Err(ModelError::Cancelled)
    }
}

/// Segments volume 0 of `scan` with `model`; the label map is on the scan's own grid.
pub async fn segment(scan: &Volume, model: &Model, mut progress: ProgressFn<'_>) -> Result<LabelMap, ModelError> {
    let manifest = &model.manifest;
    check(&mut progress, "preparing the scan", 0.0)?;
    let scan_grid = Grid::of(scan);
    let values = scan.volume_f32(0).map_err(|e| ModelError::Shape(e.to_string()))?;
    let (values, grid) = if manifest.preprocess.canonical {
        let canonical = scan_grid.closest_canonical();
        (resample_nearest(&values, &scan_grid, &canonical), canonical)
    } else {
        (values, scan_grid.clone())
    };
    let (values, grid) = if manifest.preprocess.conform { conform(values, &grid) } else { (values, grid) };
    let mut labels = match Locate::of(&manifest.pipeline) {
        Some(locate) => segment_located(&values, grid.shape, model, locate, &mut progress).await?,
        None => segment_cropped(values, grid.shape, model, &mut progress).await?,
    };
    check(&mut progress, "post-processing", 0.0)?;
    if manifest.postprocess.keep_largest {
        postprocess::keep_largest_component(&mut labels, grid.shape);
    }
    if manifest.postprocess.fill_holes {
        postprocess::fill_holes(&mut labels, grid.shape, 1);
    }
    check(&mut progress, "resampling to the scan", 0.0)?;
    let values = resample_nearest(&labels, &grid, &scan_grid);
    check(&mut progress, "done", 1.0)?;
    let table = LabelTable { labels: manifest.labels.iter().filter(|l| l.value != 0).cloned().collect() };
    Ok(LabelMap { shape: scan_grid.shape, values, geometry: scan.geometry.header.clone(), table })
}

/// Scales, crops (when the manifest asks), runs the network over the block as the pipeline
/// says and decides labels; returns labels on the same grid (0 outside the crop).
async fn segment_cropped(
    values: Vec<f32>,
    shape: [usize; 3],
    model: &Model,
    progress: &mut ProgressFn<'_>,
) -> Result<Vec<u16>, ModelError> {
    let manifest = &model.manifest;
    let scaled = Scaling::fit(&values, &manifest.preprocess.intensity).apply(&values);
    let bbox = match manifest.preprocess.crop {
        Some(crop) => bounding_box(&values, shape, crop),
        None => Some([[0, shape[0]], [0, shape[1]], [0, shape[2]]]),
    };
    drop(values);
    let mut labels = vec![0u16; scaled.len()];
    let Some(bbox) = bbox else { return Ok(labels) };
    let (input, size) = extract(&scaled, shape, bbox);
    drop(scaled);
    let transpose = manifest.preprocess.transpose;
    let input = if transpose { swap_x_z(&input, size) } else { input };
    let dhw = if transpose { size } else { [size[2], size[1], size[0]] };
    let cropped =
        run_block_labels(&model.network, &manifest.pipeline, input, dhw, &manifest.postprocess.decision, &mut |f| {
            progress("running the model", f)
        })
        .await?;
    let cropped = if transpose { swap_x_z(&cropped, [size[2], size[1], size[0]]) } else { cropped };
    paste(&mut labels, shape, &cropped, bbox);
    Ok(labels)
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
    let scaled = resampled.iter().map(|v| ((v - lo) / (hi - lo) * 255.0).clamp(0.0, 255.0).round()).collect();
    (scaled, target)
}

/// Bounding box `[[x0, x1), [y0, y1), [z0, z1)]` of voxels above the threshold, padded;
/// `None` when no voxel is above it.
fn bounding_box(values: &[f32], shape: [usize; 3], crop: Crop) -> Option<[[usize; 2]; 3]> {
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
    Some(std::array::from_fn(|a| [lo[a].saturating_sub(crop.pad), (hi[a] + crop.pad).min(shape[a])]))
}

pub(crate) fn extract(values: &[f32], shape: [usize; 3], bbox: [[usize; 2]; 3]) -> (Vec<f32>, [usize; 3]) {
    let size = bbox.map(|[a, b]| b - a);
    let mut out = Vec::with_capacity(size.iter().product());
    for z in bbox[2][0]..bbox[2][1] {
        for y in bbox[1][0]..bbox[1][1] {
            let row = bbox[0][0] + shape[0] * (y + shape[1] * z);
            out.extend_from_slice(&values[row..row + size[0]]);
        }
    }
    (out, size)
}

/// Reorders a block stored x-fastest with `size` (x, y, z) so that z is fastest (and back).
pub(crate) fn swap_x_z<T: Copy>(values: &[T], size: [usize; 3]) -> Vec<T> {
    let [nx, ny, nz] = size;
    let mut out = Vec::with_capacity(values.len());
    for x in 0..nx {
        for y in 0..ny {
            for z in 0..nz {
                out.push(values[x + nx * (y + ny * z)]);
            }
        }
    }
    out
}

pub(crate) fn paste(labels: &mut [u16], shape: [usize; 3], cropped: &[u16], bbox: [[usize; 2]; 3]) {
    let width = bbox[0][1] - bbox[0][0];
    let mut rows = cropped.chunks_exact(width);
    for z in bbox[2][0]..bbox[2][1] {
        for y in bbox[1][0]..bbox[1][1] {
            let row = bbox[0][0] + shape[0] * (y + shape[1] * z);
            labels[row..row + width].copy_from_slice(rows.next().expect("cropped labels fill the box"));
        }
    }
}
