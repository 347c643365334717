//! Two-stage segmentation as deepbet does it: a locator network finds the object on a coarse
//! copy of the volume; the bounding box of its largest component, enlarged, is cut from the
//! full-resolution volume, resized to the main network's input and segmented there; the
//! labels are resized back into the box.

use crate::infer::engine::Network;
use crate::infer::pipeline::{extract, paste, swap_x_z};
use crate::infer::scaling::Scaling;
use crate::infer::windows::run_block_labels;
use crate::models::manifest::{Decision, Pipeline};
use crate::models::{Model, ModelError};
use crate::postprocess::keep_largest_component;
use crate::volume::resample::resize_nearest_exact;

/// Where the locator looks and how the box is made (from a `locate-then-segment` pipeline).
#[derive(Clone, Copy, Debug)]
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

impl Locate {
    /// The settings of a `locate-then-segment` pipeline, `None` for other kinds.
    pub fn of(pipeline: &Pipeline) -> Option<Locate> {
        match *pipeline {
            Pipeline::LocateThenSegment { locator_size, size, plane_fraction, enlarge, .. } => {
                Some(Locate { locator_size, size, plane_fraction, enlarge })
            }
            _ => None,
        }
    }
}

/// Segments `values` (x fastest, `shape`) with `model`'s locator and main network; returns
/// labels on the same grid.
pub async fn segment_located(
    values: &[f32],
    shape: [usize; 3],
    model: &Model,
    locate: Locate,
    progress: &mut dyn FnMut(&str, f64) -> bool,
) -> Result<Vec<u16>, ModelError> {
    let manifest = &model.manifest;
    let locator = model
        .locator
        .as_ref()
        .ok_or_else(|| ModelError::Format("a locate-then-segment model needs its locator network".into()))?;
    let transpose = manifest.preprocess.transpose;
    let decision = &manifest.postprocess.decision;
    let xyz = |dhw: [usize; 3]| if transpose { dhw } else { [dhw[2], dhw[1], dhw[0]] };

    let small_shape = xyz(locate.locator_size);
    let small = resize_nearest_exact(values, shape, small_shape);
    let scaling = Scaling::fit(&small, &manifest.preprocess.intensity);
    let mut found =
        run_labels(locator, scaling.apply(&small), small_shape, transpose, decision, &mut |f| progress("locating", f))
            .await?;
    drop(small);
    keep_largest_component(&mut found, small_shape);
    let bbox = bounding_box(&found, small_shape, shape, locate).ok_or_else(|| {
        ModelError::Run(
            "the locator network found nothing to segment in this scan (is it the right kind of scan?)".into(),
        )
    })?;

    let (block, block_shape) = extract(values, shape, bbox);
    let input = resize_nearest_exact(&block, block_shape, xyz(locate.size));
    drop(block);
    let labels = run_labels(&model.network, scaling.apply(&input), xyz(locate.size), transpose, decision, &mut |f| {
        progress("running the model", f)
    })
    .await?;
    let labels = resize_nearest_exact(&labels, xyz(locate.size), block_shape);
    let mut out = vec![0u16; values.len()];
    paste(&mut out, shape, &labels, bbox);
    Ok(out)
}

/// Runs `network` on a block (x fastest, `shape_xyz`) and decides labels, x fastest.
async fn run_labels(
    network: &Network,
    input: Vec<f32>,
    shape_xyz: [usize; 3],
    transpose: bool,
    decision: &Decision,
    progress: &mut dyn FnMut(f64) -> bool,
) -> Result<Vec<u16>, ModelError> {
    let [nx, ny, nz] = shape_xyz;
    let (input, dhw) = if transpose { (swap_x_z(&input, shape_xyz), shape_xyz) } else { (input, [nz, ny, nx]) };
    let labels = run_block_labels(network, &Pipeline::Volume, input, dhw, decision, progress).await?;
    Ok(if transpose { swap_x_z(&labels, [nz, ny, nx]) } else { labels })
}

/// deepbet's `get_bbox_with_margin`, in float32 as it computes: per axis, the planes of the
/// coarse mask covering more than `plane_fraction`; centre and size scaled to the full grid,
/// size enlarged, both rounded half to even, ends truncated and clipped to the grid.
fn bounding_box(mask: &[u16], small: [usize; 3], full: [usize; 3], locate: Locate) -> Option<[[usize; 2]; 3]> {
    let [nx, ny, _] = small;
    let mut per_plane = [vec![0usize; small[0]], vec![0usize; small[1]], vec![0usize; small[2]]];
    for (i, _) in mask.iter().enumerate().filter(|(_, &l)| l != 0) {
        per_plane[0][i % nx] += 1;
        per_plane[1][(i / nx) % ny] += 1;
        per_plane[2][i / (nx * ny)] += 1;
    }
    let mut bbox = [[0usize; 2]; 3];
    for a in 0..3 {
        let plane_area = (mask.len() / small[a]) as f32;
        let covered = |&(_, &n): &(usize, &usize)| n as f32 / plane_area > locate.plane_fraction as f32;
        let first = per_plane[a].iter().enumerate().find(covered)?.0;
        let last = per_plane[a].iter().enumerate().rev().find(covered)?.0;
        let scale = full[a] as f32 / small[a] as f32;
        let centre = ((last + 1 + first) as f32 / 2.0 * scale).round_ties_even();
        let size = ((last + 1 - first) as f32 * scale * locate.enlarge as f32).round_ties_even();
        let lo = ((centre - size / 2.0) as i64).max(0) as usize;
        let hi = ((centre + size / 2.0) as i64).clamp(0, full[a] as i64) as usize;
        if hi <= lo {
            return None;
        }
        bbox[a] = [lo, hi];
    }
    Some(bbox)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_is_scaled_enlarged_and_clipped_as_deepbet() {
        // A 4×4×4 coarse mask with a block at x 1..3, y 0..4, z 2..3; full grid 8×8×8.
        let small = [4, 4, 4];
        let mut mask = vec![0u16; 64];
        for z in 2..3 {
            for y in 0..4 {
                for x in 1..3 {
                    mask[x + 4 * (y + 4 * z)] = 1;
                }
            }
        }
        let locate = Locate { locator_size: small, size: small, plane_fraction: 0.02, enlarge: 1.2 };
        let bbox = bounding_box(&mask, small, [8, 8, 8], locate).unwrap();
        // x: planes 1..=2 → centre 2·2 = 4, size 2·2·1.2 = 4.8 → 5 → [int(1.5), int(6.5)] = [1, 6]
        // y: planes 0..=3 → centre 4, size 9.6 → 10 → [-1, 9] clipped to [0, 8]
        // z: plane 2 → centre 2.5·2 = 5, size 2.4 → 2 → [4, 6]
        assert_eq!(bbox, [[1, 6], [0, 8], [4, 6]]);
        assert_eq!(bounding_box(&[0u16; 64], small, [8, 8, 8], locate), None);
    }
}
