//! Two-stage segmentation as deepbet does it: a locator network finds the object on a coarse
//! copy of the volume; the bounding box of its largest component, enlarged, is cut from the
//! full-resolution volume, resized to the main network's input and segmented there; the
//! labels are resized back into the box.

use super::plan::{Feed, Locate, Plan};
use super::scaling::Scaling;
use super::windows::run_block_labels;
use crate::engine::error::{zeroed, RunError};
use crate::engine::network::Network;
use crate::engine::streaming::Streamed;
use crate::models::Model;
use crate::postprocess::keep_largest_component;
use crate::volume::blocks::{extract, paste, AxisOrder, VoxelBox};
use crate::volume::resample::resize_nearest_exact;

/// Segments `values` (x fastest, `shape`) with the `locator` network and `main`'s network as
/// `plan` and `locate` say; returns labels on the same grid.
pub async fn segment_located(
    values: &[f32],
    shape: [usize; 3],
    locator: &Network,
    main: &Model,
    plan: &Plan,
    locate: Locate,
    progress: &mut dyn FnMut(&str, f64),
) -> Result<Vec<u16>, RunError> {
    let axes = plan.axes;
    let small_shape = axes.xyz(locate.locator_size);
    if main.streamed.is_none() {
        let input = |dhw: [usize; 3]| vec![vec![1, 1, dhw[0], dhw[1], dhw[2]]];
        Network::plan_together(&[(locator, input(locate.locator_size)), (&main.network, input(locate.size))])?;
    }
    let small = resize_nearest_exact(values, shape, small_shape);
    let scaling = Scaling::fit(&small, &plan.intensity);
    let mut found =
        run_labels((locator, None), scaling.apply(&small), small_shape, axes, plan, &mut |f| progress("locating", f))
            .await?;
    drop(small);
    keep_largest_component(&mut found, small_shape);
    let bbox = bounding_box(&found, small_shape, shape, locate).ok_or_else(|| {
        RunError::Failed(
            "the locator network found nothing to segment in this scan (is it the right kind of scan?)".into(),
        )
    })?;

    let (block, block_shape) = extract(values, shape, bbox);
    let size = axes.xyz(locate.size);
    let input = resize_nearest_exact(&block, block_shape, size);
    drop(block);
    let labels =
        run_labels((&main.network, main.streamed.as_ref()), scaling.apply(&input), size, axes, plan, &mut |f| {
            progress("running the model", f)
        })
        .await?;
    let labels = resize_nearest_exact(&labels, size, block_shape);
    let mut out = zeroed::<u16>(values.len(), "the label map")?;
    paste(&mut out, shape, &labels, bbox);
    Ok(out)
}

/// Runs a network (with its streamed form, if any) on a whole block (x fastest, `xyz`) and
/// decides labels, x fastest.
async fn run_labels(
    (network, streamed): (&Network, Option<&Streamed>),
    input: Vec<f32>,
    xyz: [usize; 3],
    axes: AxisOrder,
    plan: &Plan,
    progress: &mut dyn FnMut(f64),
) -> Result<Vec<u16>, RunError> {
    let input = axes.to_network_order(input, xyz);
    let labels =
        run_block_labels(&[network], streamed, &Feed::Whole, input, axes.dhw(xyz), &plan.decision, progress).await?;
    Ok(axes.to_block(labels, xyz))
}

/// deepbet's `get_bbox_with_margin`, in float32 as it computes: per axis, the planes of the
/// coarse mask covering more than `plane_fraction`; centre and size scaled to the full grid,
/// size enlarged, both rounded half to even, ends truncated and clipped to the grid.
fn bounding_box(mask: &[u16], small: [usize; 3], full: [usize; 3], locate: Locate) -> Option<VoxelBox> {
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
