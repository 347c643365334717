//! Intensity statistics: exact quantiles of a volume's finite values (for auto-windowing and
//! quantile scaling).

use std::ops::Range;

use super::voxels::VoxelData;

/// The values at the given fractions (0–1) of the sorted finite values, by nearest rank with
/// linear interpolation (numpy's default `percentile`); `None` when no value is finite.
pub fn quantiles(values: &[f32], fractions: &[f64]) -> Option<Vec<f32>> {
    let mut finite: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return None;
    }
    let last = finite.len() - 1;
    let mut out = Vec::with_capacity(fractions.len());
    for &q in fractions {
        let position = q.clamp(0.0, 1.0) * last as f64;
        let below = position.floor() as usize;
        let frac = (position - below as f64) as f32;
        let (_, &mut lo, rest) = finite.select_nth_unstable_by(below, f32::total_cmp);
        let value = if frac > 0.0 && below < last {
            let hi = rest.iter().copied().fold(f32::INFINITY, f32::min);
            lo + (hi - lo) * frac
        } else {
            lo
        };
        out.push(value);
    }
    Some(out)
}

/// [`quantiles`] of `voxels[range]` scaled by `scaling` (`value × slope + inter`), without a
/// float copy of the volume when the voxels are 8- or 16-bit integers (they are counted per
/// value instead); equal to `quantiles(&voxels.to_f32(range, scaling), fractions)`. The page's
/// automatic window (the wasm API) is its user.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub fn voxel_quantiles(
    voxels: &VoxelData,
    range: Range<usize>,
    scaling: Option<(f64, f64)>,
    fractions: &[f64],
) -> Option<Vec<f32>> {
    let (counts, offset) = match voxels {
        VoxelData::U8(v) => (counted(&v[range.clone()], usize::from, 1 << 8), 0),
        VoxelData::I8(v) => (counted(&v[range.clone()], |x| (i16::from(x) + 128) as usize, 1 << 8), -128),
        VoxelData::U16(v) => (counted(&v[range.clone()], usize::from, 1 << 16), 0),
        VoxelData::I16(v) => (counted(&v[range.clone()], |x| (i32::from(x) + 32768) as usize, 1 << 16), -32768),
        _ => return quantiles(&voxels.to_f32(range, scaling), fractions),
    };
    let (slope, inter) = scaling.unwrap_or((1.0, 0.0));
    if !(slope.is_finite() && inter.is_finite()) {
        return quantiles(&voxels.to_f32(range, scaling), fractions);
    }
    let n: u64 = counts.iter().sum();
    if n == 0 {
        return None;
    }
    let last = (n - 1) as usize;
    // The raw value at rank `k` of the sorted raw values.
    let raw_at = |k: usize| -> f64 {
        let mut seen = 0u64;
        let bin = counts.iter().position(|&c| {
            seen += c;
            seen > k as u64
        });
        (bin.unwrap_or(counts.len() - 1) as i64 + offset) as f64
    };
    // Scaling keeps the order (slope ≥ 0) or reverses it (slope < 0).
    let scaled_at = |k: usize| -> f32 {
        let k = if slope < 0.0 { last - k } else { k };
        match scaling {
            Some(_) => (raw_at(k) * slope + inter) as f32,
            None => raw_at(k) as f32,
        }
    };
    let out = fractions
        .iter()
        .map(|&q| {
            let position = q.clamp(0.0, 1.0) * last as f64;
            let below = position.floor() as usize;
            let frac = (position - below as f64) as f32;
            let lo = scaled_at(below);
            if frac > 0.0 && below < last {
                lo + (scaled_at(below + 1) - lo) * frac
            } else {
                lo
            }
        })
        .collect();
    Some(out)
}

/// How many of `values` fall in each of `bins` bins (`bin(value)` < `bins`).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
fn counted<T: Copy>(values: &[T], bin: impl Fn(T) -> usize, bins: usize) -> Vec<u64> {
    let mut counts = vec![0u64; bins];
    values.iter().for_each(|&v| counts[bin(v)] += 1);
    counts
}

#[cfg(test)]
mod tests {
    use super::{quantiles, voxel_quantiles, VoxelData};

    #[test]
    fn counted_quantiles_equal_the_sorted_ones() {
        let fractions = [0.0, 0.005, 0.25, 0.5, 0.9, 0.995, 1.0];
        let raw: Vec<i16> = (0..1000).map(|i: i32| ((i * 7919) % 3001 - 1500) as i16).collect();
        for scaling in [None, Some((2.5, -1024.0)), Some((-0.5, 3.0))] {
            let voxels = VoxelData::I16(raw.clone());
            let expected = quantiles(&voxels.to_f32(100..900, scaling), &fractions).unwrap();
            assert_eq!(voxel_quantiles(&voxels, 100..900, scaling, &fractions).unwrap(), expected, "{scaling:?}");
        }
        let bytes = VoxelData::U8((0..=255).rev().collect());
        assert_eq!(voxel_quantiles(&bytes, 0..256, None, &[0.5]), quantiles(&bytes.to_f32(0..256, None), &[0.5]));
        assert_eq!(voxel_quantiles(&bytes, 0..0, None, &[0.5]), None);
    }

    #[test]
    fn matches_numpy_percentile() {
        // numpy.percentile([1, 2, 3, 4, 10], [0, 25, 50, 90, 100]) = [1, 2, 3, 7.6, 10]
        let q = quantiles(&[10.0, 3.0, 1.0, 4.0, 2.0], &[0.0, 0.25, 0.5, 0.9, 1.0]).unwrap();
        let expected = [1.0, 2.0, 3.0, 7.6, 10.0];
        assert!(q.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-5), "{q:?}");
    }

    #[test]
    fn ignores_nan_and_handles_empty() {
        assert_eq!(quantiles(&[f32::NAN, 5.0], &[0.5]), Some(vec![5.0]));
        assert_eq!(quantiles(&[f32::NAN], &[0.5]), None);
    }
}
