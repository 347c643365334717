//! Feeding a block to a network in the three ways a manifest can ask for: whole (`volume`),
//! as overlapping 3D patches blended with a Gaussian (`patches3d`, as nnU-Net and MONAI's
//! sliding_window_inference), or slice by slice in batches (`slices2d`).
//!
//! Blocks are in network order: `[D, H, W]`, W fastest. Outputs are `[C, D, H, W]`.

use rayon::prelude::*;

use super::plan::Feed;
use crate::engine::error::RunError;
use crate::engine::network::Network;
use crate::engine::streaming::Streamed;
use crate::engine::tensor::Progress;
use crate::models::manifest::Decision;
use crate::postprocess::argmax;
use crate::volume::in_plane_axes;

/// Runs a model's `ensemble` (its folds; whole blocks and slices use the first alone) over
/// `block` (shape `dhw`) as `feed` says; returns (outputs, channels).
pub async fn run_block(
    ensemble: &[&Network],
    feed: &Feed,
    block: Vec<f32>,
    dhw: [usize; 3],
    progress: Progress<'_>,
) -> Result<(Vec<f32>, usize), RunError> {
    let network = ensemble[0];
    match *feed {
        Feed::Whole => {
            let shape = [1, 1, dhw[0], dhw[1], dhw[2]];
            let (out, out_shape) = network.run_with_progress(block, &shape, progress).await?;
            expect_shape(&out_shape, &[1, 0, dhw[0], dhw[1], dhw[2]], &shape)?;
            Ok((out, out_shape[1]))
        }
        Feed::Patches { patch, overlap, mirror } => {
            patches(ensemble, &block, dhw, Windows { patch, overlap, mirror }, progress).await
        }
        Feed::Slices { axis, batch } => slices(network, &block, dhw, axis, batch, progress).await,
    }
}

/// Runs `ensemble` over `block` as `feed` says and decides labels (network order). A whole-block
/// run of a network given with its `streamed` form (see `engine::streaming`) goes plane by plane
/// and never holds whole activations or outputs.
pub async fn run_block_labels(
    ensemble: &[&Network],
    streamed: Option<&Streamed>,
    feed: &Feed,
    block: Vec<f32>,
    dhw: [usize; 3],
    decision: &Decision,
    progress: Progress<'_>,
) -> Result<Vec<u16>, RunError> {
    match (feed, streamed) {
        (Feed::Whole, Some(streamed)) => {
            let mut labels = Vec::with_capacity(block.len());
            let shape = [1, 1, dhw[0], dhw[1], dhw[2]];
            streamed
                .run(
                    &block,
                    shape,
                    &mut |plane, channels| {
                        labels.extend(decide(plane, channels, decision)?);
                        Ok(())
                    },
                    progress,
                )
                .await?;
            Ok(labels)
        }
        _ => {
            let (output, channels) = run_block(ensemble, feed, block, dhw, progress).await?;
            decide(&output, channels, decision)
        }
    }
}

/// Labels from network outputs `[C, N]` as `decision` says.
pub fn decide(output: &[f32], channels: usize, decision: &Decision) -> Result<Vec<u16>, RunError> {
    match *decision {
        Decision::Argmax => Ok(argmax(output, channels)),
        Decision::Threshold { channel, threshold } => {
            if channel >= channels {
                return Err(RunError::Shape(format!(
                    "the manifest thresholds channel {channel}, the model outputs {channels}"
                )));
            }
            let n = output.len() / channels;
            Ok(output[channel * n..(channel + 1) * n].par_iter().map(|&v| u16::from(v > threshold)).collect())
        }
    }
}

/// Checks an output shape against `want` (0 = any size there).
fn expect_shape(got: &[usize], want: &[usize], input: &[usize]) -> Result<(), RunError> {
    let fits = got.len() == want.len() && got.iter().zip(want).all(|(g, w)| *w == 0 || g == w);
    if fits {
        Ok(())
    } else {
        Err(RunError::Shape(format!("the model returned shape {got:?} for input {input:?}")))
    }
}

/// Window starts along one axis: evenly spaced, first at 0, last flush with the end, with at
/// least the requested overlap (nnU-Net's `compute_steps_for_sliding_window`).
fn starts(n: usize, patch: usize, overlap: f64) -> Vec<usize> {
    if n <= patch {
        return vec![0];
    }
    let step = (patch as f64 * (1.0 - overlap.clamp(0.0, 0.95))).max(1.0);
    let count = ((n - patch) as f64 / step).ceil() as usize + 1;
    let actual = (n - patch) as f64 / (count - 1) as f64;
    (0..count).map(|i| (i as f64 * actual).round() as usize).collect()
}

/// nnU-Net's importance map: a Gaussian with σ = patch/8 per axis, peak 1, no zero weights.
fn gaussian(patch: [usize; 3]) -> Vec<f32> {
    let axis = |n: usize| -> Vec<f64> {
        let (c, sigma) = ((n as f64 - 1.0) / 2.0, n as f64 / 8.0);
        (0..n).map(|i| (-((i as f64 - c).powi(2)) / (2.0 * sigma * sigma)).exp()).collect()
    };
    let (d, h, w) = (axis(patch[0]), axis(patch[1]), axis(patch[2]));
    let mut out = Vec::with_capacity(patch.iter().product());
    for a in &d {
        for b in &h {
            for c in &w {
                out.push((a * b * c) as f32);
            }
        }
    }
    let smallest = out.iter().copied().filter(|v| *v > 0.0).fold(f32::INFINITY, f32::min);
    out.iter_mut().for_each(|v| *v = v.max(smallest));
    out
}

/// How `patches3d` tiles a block and what each patch averages.
#[derive(Clone, Copy)]
struct Windows {
    patch: [usize; 3],
    overlap: f64,
    mirror: [bool; 3],
}

/// The mirrorings to run: every subset of the mirrored axes (the first is no flip at all).
fn mirrorings(mirror: [bool; 3]) -> Vec<[bool; 3]> {
    (0..8usize)
        .map(|bits| std::array::from_fn(|a| bits >> a & 1 == 1))
        .filter(|flips: &[bool; 3]| (0..3).all(|a| mirror[a] || !flips[a]))
        .collect()
}

/// `values` (`[C, D, H, W]`, `channels` of shape `dhw`) with the axes in `flips` reversed.
fn flipped(values: &[f32], channels: usize, dhw: [usize; 3], flips: [bool; 3]) -> Vec<f32> {
    if flips == [false; 3] {
        return values.to_vec();
    }
    let [nd, nh, nw] = dhw;
    let at = |i: usize, n: usize, flip: bool| if flip { n - 1 - i } else { i };
    let mut out = Vec::with_capacity(values.len());
    for c in 0..channels {
        for d in 0..nd {
            for h in 0..nh {
                let row = ((c * nd + at(d, nd, flips[0])) * nh + at(h, nh, flips[1])) * nw;
                if flips[2] {
                    out.extend(values[row..row + nw].iter().rev());
                } else {
                    out.extend_from_slice(&values[row..row + nw]);
                }
            }
        }
    }
    out
}

/// Number of network runs `patches3d` makes over a block of shape `dhw` with `ensemble_size`
/// folds: patches × mirrorings × folds.
pub fn patch_runs(dhw: [usize; 3], patch: [usize; 3], overlap: f64, mirror: [bool; 3], ensemble_size: usize) -> usize {
    let tiles: usize = (0..3).map(|a| starts(dhw[a].max(patch[a]), patch[a], overlap).len()).product();
    tiles * mirrorings(mirror).len() * ensemble_size
}

async fn patches(
    ensemble: &[&Network],
    block: &[f32],
    dhw: [usize; 3],
    windows: Windows,
    progress: Progress<'_>,
) -> Result<(Vec<f32>, usize), RunError> {
    let Windows { patch, overlap, mirror } = windows;
    // A block smaller than the patch is zero-padded to it (and cropped back at the end).
    let padded: [usize; 3] = std::array::from_fn(|a| dhw[a].max(patch[a]));
    let weights = gaussian(patch);
    let axis_starts: Vec<Vec<usize>> = (0..3).map(|a| starts(padded[a], patch[a], overlap)).collect();
    let mut grid = Vec::new();
    for &d in &axis_starts[0] {
        for &h in &axis_starts[1] {
            for &w in &axis_starts[2] {
                grid.push([d, h, w]);
            }
        }
    }
    let flips = mirrorings(mirror);
    let runs_per_patch = flips.len() * ensemble.len();
    let count = (grid.len() * runs_per_patch) as f64;
    let n_patch: usize = patch.iter().product();
    let n_padded: usize = padded.iter().product();
    let mut sum: Vec<f32> = Vec::new();
    let mut weight_sum = vec![0f32; n_padded];
    let mut channels = 0;
    let shape = [1, 1, patch[0], patch[1], patch[2]];
    let mut done = 0.0;
    for start in &grid {
        let mut input = Vec::with_capacity(n_patch);
        for d in 0..patch[0] {
            for h in 0..patch[1] {
                for w in 0..patch[2] {
                    let (z, y, x) = (start[0] + d, start[1] + h, start[2] + w);
                    let inside = z < dhw[0] && y < dhw[1] && x < dhw[2];
                    input.push(if inside { block[(z * dhw[1] + y) * dhw[2] + x] } else { 0.0 });
                }
            }
        }
        // The patch's output: the mean over folds and mirrorings, each flipped back.
        let mut mean: Vec<f32> = Vec::new();
        for network in ensemble {
            for &flip in &flips {
                let (out, out_shape) = network
                    .run_with_progress(flipped(&input, 1, patch, flip), &shape, &mut |f| progress((done + f) / count))
                    .await?;
                expect_shape(&out_shape, &[1, 0, patch[0], patch[1], patch[2]], &shape)?;
                let out = flipped(&out, out_shape[1], patch, flip);
                if mean.is_empty() {
                    mean = vec![0.0; out.len()];
                }
                if out.len() != mean.len() {
                    return Err(RunError::Shape("the folds of this model return different channel counts".into()));
                }
                mean.iter_mut().zip(&out).for_each(|(m, o)| *m += o / runs_per_patch as f32);
                done += 1.0;
            }
        }
        if sum.is_empty() {
            channels = mean.len() / n_patch;
            sum = vec![0.0; channels * n_padded];
        }
        for d in 0..patch[0] {
            for h in 0..patch[1] {
                for w in 0..patch[2] {
                    let p = (d * patch[1] + h) * patch[2] + w;
                    let v = ((start[0] + d) * padded[1] + start[1] + h) * padded[2] + start[2] + w;
                    weight_sum[v] += weights[p];
                    for c in 0..channels {
                        sum[c * n_padded + v] += mean[c * n_patch + p] * weights[p];
                    }
                }
            }
        }
    }
    // Average, and crop the padding away.
    let n: usize = dhw.iter().product();
    let mut logits = Vec::with_capacity(channels * n);
    for c in 0..channels {
        for d in 0..dhw[0] {
            for h in 0..dhw[1] {
                for w in 0..dhw[2] {
                    let v = (d * padded[1] + h) * padded[2] + w;
                    logits.push(sum[c * n_padded + v] / weight_sum[v]);
                }
            }
        }
    }
    Ok((logits, channels))
}

async fn slices(
    network: &Network,
    block: &[f32],
    dhw: [usize; 3],
    axis: usize,
    batch: usize,
    progress: Progress<'_>,
) -> Result<(Vec<f32>, usize), RunError> {
    let strides = [dhw[1] * dhw[2], dhw[2], 1];
    let (a, b) = in_plane_axes(axis);
    let (rows, cols) = (dhw[a], dhw[b]);
    let plane = rows * cols;
    let n: usize = dhw.iter().product();
    let index = |s: usize, r: usize, c: usize| s * strides[axis] + r * strides[a] + c * strides[b];
    let mut logits: Vec<f32> = Vec::new();
    let mut channels = 0;
    let mut first = 0;
    while first < dhw[axis] {
        let count = batch.min(dhw[axis] - first);
        let mut input = Vec::with_capacity(count * plane);
        for s in first..first + count {
            for r in 0..rows {
                for c in 0..cols {
                    input.push(block[index(s, r, c)]);
                }
            }
        }
        let shape = [count, 1, rows, cols];
        let done = first as f64 / dhw[axis] as f64;
        let share = count as f64 / dhw[axis] as f64;
        let (out, out_shape) = network.run_with_progress(input, &shape, &mut |f| progress(done + f * share)).await?;
        expect_shape(&out_shape, &[count, 0, rows, cols], &shape)?;
        if logits.is_empty() {
            channels = out_shape[1];
            logits = vec![0.0; channels * n];
        }
        for (k, s) in (first..first + count).enumerate() {
            for c in 0..channels {
                for r in 0..rows {
                    for col in 0..cols {
                        logits[c * n + index(s, r, col)] = out[((k * channels + c) * rows + r) * cols + col];
                    }
                }
            }
        }
        first += count;
    }
    Ok((logits, channels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::onnx_graph::{float_value, model};
    use pollster::block_on;
    use tract_onnx::pb::{attribute_proto::AttributeType, tensor_proto::DataType, *};

    /// A pointwise network with 2 output channels, c0 = 2x + 1 and c1 = −x, for `rank`-D input
    /// ([N, 1, spatial…]): any way of tiling the input must give the same logits.
    fn pointwise(spatial: usize) -> Network {
        pointwise_with(spatial, [2.0, -1.0], [1.0, 0.0])
    }

    /// A pointwise network with 2 output channels, c = weights·x + biases.
    fn pointwise_with(spatial: usize, weights: [f32; 2], biases: [f32; 2]) -> Network {
        let kernel_dims: Vec<i64> = [2, 1].into_iter().chain(std::iter::repeat_n(1, spatial)).collect();
        let tensor = |name: &str, dims: Vec<i64>, v: Vec<f32>| TensorProto {
            name: name.into(),
            dims,
            data_type: DataType::Float as i32,
            float_data: v,
            ..Default::default()
        };
        let graph = GraphProto {
            node: vec![NodeProto {
                op_type: "Conv".into(),
                input: vec!["input".into(), "w".into(), "b".into()],
                output: vec!["logits".into()],
                attribute: vec![AttributeProto {
                    name: "kernel_shape".into(),
                    r#type: AttributeType::Ints as i32,
                    ints: vec![1; spatial],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            initializer: vec![tensor("w", kernel_dims, weights.to_vec()), tensor("b", vec![2], biases.to_vec())],
            input: vec![float_value("input", None)],
            output: vec![float_value("logits", None)],
            ..Default::default()
        };
        Network::from_proto(&model(graph, "test")).unwrap()
    }

    fn block(dhw: [usize; 3]) -> Vec<f32> {
        (0..dhw.iter().product::<usize>()).map(|i| ((i * 37) % 101) as f32 / 10.0).collect()
    }

    fn expected(block: &[f32]) -> Vec<f32> {
        block.iter().map(|x| 2.0 * x + 1.0).chain(block.iter().map(|x| -x)).collect()
    }

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-4 * (1.0 + y.abs()))
    }

    #[test]
    fn window_starts_cover_the_axis() {
        let s = starts(10, 4, 0.5);
        assert_eq!((s[0], *s.last().unwrap()), (0, 6), "{s:?}");
        assert!(s.windows(2).all(|w| w[1] - w[0] <= 2), "steps of at most half a patch: {s:?}");
        assert_eq!(starts(3, 8, 0.5), vec![0]);
    }

    #[test]
    fn patches_with_blending_equal_the_whole_volume_for_a_pointwise_network() {
        let net = pointwise(3);
        let dhw = [13, 17, 20];
        let data = block(dhw);
        let (whole, c) = block_on(run_block(&[&net], &Feed::Whole, data.clone(), dhw, &mut |_| {})).unwrap();
        assert_eq!(c, 2);
        assert!(close(&whole, &expected(&data)));
        let patched = Feed::Patches { patch: [8, 8, 8], overlap: 0.5, mirror: [false; 3] };
        let mut calls = 0;
        let (tiled, _) = block_on(run_block(&[&net], &patched, data.clone(), dhw, &mut |_| {
            calls += 1;
        }))
        .unwrap();
        assert!(close(&tiled, &whole), "blended patches differ from the one-shot result");
        assert!(calls > 8, "progress is reported per patch");
        // A block smaller than the patch is padded and cropped back.
        let small = [3, 4, 5];
        let (out, _) = block_on(run_block(&[&net], &patched, block(small), small, &mut |_| {})).unwrap();
        assert!(close(&out, &expected(&block(small))));
    }

    #[test]
    fn mirrorings_are_every_subset_of_the_mirrored_axes() {
        assert_eq!(mirrorings([false; 3]), vec![[false; 3]]);
        assert_eq!(mirrorings([true, false, true]).len(), 4);
        assert_eq!(mirrorings([true; 3]).len(), 8);
        // Flipping twice gives the block back; a W flip reverses each row.
        let dhw = [2, 3, 4];
        let data = block(dhw);
        for flips in mirrorings([true; 3]) {
            assert_eq!(flipped(&flipped(&data, 1, dhw, flips), 1, dhw, flips), data, "{flips:?}");
        }
        assert_eq!(flipped(&data, 1, dhw, [false, false, true])[..4], [data[3], data[2], data[1], data[0]]);
        assert_eq!(flipped(&data, 2, [1, 1, 2], [true; 3]), vec![data[1], data[0], data[3], data[2]]);
    }

    #[test]
    fn mirrored_patches_of_two_folds_average_the_folds_in_place() {
        // Outputs flipped back to where they belong: a pointwise network gives the same map
        // mirrored or not, and two folds give the mean of their outputs.
        let (a, b) = (pointwise(3), pointwise_with(3, [-4.0, 3.0], [0.5, -2.0]));
        let dhw = [9, 12, 10];
        let data = block(dhw);
        let feed = Feed::Patches { patch: [8, 8, 8], overlap: 0.5, mirror: [true; 3] };
        let mut runs = 0;
        let (out, c) = block_on(run_block(&[&a, &b], &feed, data.clone(), dhw, &mut |f| {
            if f == 0.0 || runs > 0 {
                runs += 1;
            }
        }))
        .unwrap();
        assert_eq!(c, 2);
        let want: Vec<f32> = data
            .iter()
            .map(|x| (2.0 * x + 1.0 - 4.0 * x + 0.5) / 2.0)
            .chain(data.iter().map(|x| (-x + 3.0 * x - 2.0) / 2.0))
            .collect();
        assert!(close(&out, &want), "the folds' mean, each mirroring flipped back");
        assert_eq!(patch_runs(dhw, [8, 8, 8], 0.5, [true; 3], 2), 8 * 8 * 2, "2×2×2 patches × 8 mirrorings × 2 folds");
        assert!(runs >= 8 * 8 * 2, "progress is reported for every run");
    }

    #[test]
    fn slices_in_batches_equal_the_whole_volume_for_a_pointwise_network() {
        let net = pointwise(2);
        let dhw = [7, 9, 11];
        let data = block(dhw);
        for axis in 0..3 {
            let slices = Feed::Slices { axis, batch: 3 };
            let (out, c) = block_on(run_block(&[&net], &slices, data.clone(), dhw, &mut |_| {})).unwrap();
            assert_eq!(c, 2);
            assert!(close(&out, &expected(&data)), "axis {axis}");
        }
    }

    #[test]
    fn progress_over_patches_rises_from_zero_below_one() {
        let net = pointwise(3);
        let dhw = [16, 16, 16];
        let patched = Feed::Patches { patch: [8, 8, 8], overlap: 0.5, mirror: [false; 3] };
        let mut reported = Vec::new();
        block_on(run_block(&[&net], &patched, block(dhw), dhw, &mut |f| reported.push(f))).unwrap();
        assert_eq!(reported.first(), Some(&0.0));
        assert!(reported.windows(2).all(|w| w[0] <= w[1]) && reported.iter().all(|&f| f < 1.0), "{reported:?}");
    }
}
