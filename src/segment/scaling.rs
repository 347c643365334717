//! Intensity scaling before a network: fitted on one volume (the whole conformed scan, or a
//! locator's input), then applied to any block of it.

use crate::models::manifest::Intensity;
use crate::volume::intensity::quantiles;
use rayon::prelude::*;

/// An intensity scaling fitted to a volume.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scaling {
    /// `(v − offset) · scale`, clipped to [0, 1] when `clip`.
    Linear {
        /// Subtracted first.
        offset: f32,
        /// Multiplied next.
        scale: f32,
        /// Clip the result to [0, 1].
        clip: bool,
    },
    /// `c = clip((v − low) / (high − low), 0, 1)`, then `mean + std · (c − mean(c)) / std(c)`,
    /// with mean(c) and std(c) over the block being scaled (deepbet's `normalize`).
    Standardize {
        /// Value mapped to 0 before standardizing.
        low: f32,
        /// Value mapped to 1 before standardizing.
        high: f32,
        /// Mean of the result.
        mean: f32,
        /// Standard deviation of the result.
        std: f32,
    },
}

impl Scaling {
    /// Fits `intensity` to `values` (non-finite values are ignored).
    pub fn fit(values: &[f32], intensity: &Intensity) -> Scaling {
        let linear = |offset: f32, range: f32, clip: bool| Scaling::Linear {
            offset,
            scale: 1.0 / range.max(f32::EPSILON),
            clip,
        };
        match *intensity {
            Intensity::MinMax => {
                let (lo, hi) = values
                    .iter()
                    .filter(|v| v.is_finite())
                    .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
                linear(lo, hi - lo, false)
            }
            Intensity::Quantiles { lo, hi } => {
                let q = quantiles(values, &[lo, hi]).unwrap_or(vec![0.0, 1.0]);
                linear(q[0], q[1] - q[0], false)
            }
            Intensity::ZScore => {
                let (mean, std) = mean_std(values, 0);
                linear(mean as f32, std as f32, false)
            }
            Intensity::CtWindow { level, width } => linear((level - width / 2.0) as f32, width as f32, true),
            Intensity::QuantileStandardize { lo, hi, mean, std } => {
                let q = quantiles(values, &[lo, hi]).unwrap_or(vec![0.0, 1.0]);
                Scaling::Standardize { low: q[0], high: q[1], mean: mean as f32, std: std as f32 }
            }
        }
    }

    /// Scales `values`; a non-finite value becomes 0 before scaling.
    pub fn apply(&self, values: &[f32]) -> Vec<f32> {
        let finite = |v: f32| if v.is_finite() { v } else { 0.0 };
        match *self {
            Scaling::Linear { offset, scale, clip } => values
                .par_iter()
                .map(|&v| {
                    let s = (finite(v) - offset) * scale;
                    if clip {
                        s.clamp(0.0, 1.0)
                    } else {
                        s
                    }
                })
                .collect(),
            Scaling::Standardize { low, high, mean, std } => {
                let range = (high - low).max(f32::EPSILON);
                let mut c: Vec<f32> = values.par_iter().map(|&v| ((finite(v) - low) / range).clamp(0.0, 1.0)).collect();
                let (c_mean, c_std) = mean_std(&c, 1);
                let gain = std / (c_std as f32).max(f32::EPSILON);
                c.par_iter_mut().for_each(|v| *v = (*v - c_mean as f32) * gain + mean);
                c
            }
        }
    }
}

/// Values per partial sum of [`mean_std`]: fixed, so the result does not depend on the number
/// of threads.
const SUM_BLOCK: usize = 1 << 16;

/// Mean and standard deviation (divisor n − `ddof`), accumulated in f64 by blocks of
/// [`SUM_BLOCK`] values on the rayon pool, the blocks' sums added in order.
fn mean_std(values: &[f32], ddof: usize) -> (f64, f64) {
    let sum_by_blocks = |term: &(dyn Fn(f32) -> f64 + Sync)| -> f64 {
        let partials: Vec<f64> =
            values.par_chunks(SUM_BLOCK).map(|block| block.iter().map(|&v| term(v)).sum::<f64>()).collect();
        partials.iter().sum()
    };
    let n = values.len();
    let mean = sum_by_blocks(&f64::from) / n.max(1) as f64;
    let squares = sum_by_blocks(&|v| (f64::from(v) - mean).powi(2));
    (mean, (squares / n.saturating_sub(ddof).max(1) as f64).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ct_window_clips_to_unit_range() {
        let s = Scaling::fit(&[], &Intensity::CtWindow { level: 40.0, width: 400.0 });
        assert_eq!(s.apply(&[-1000.0, -160.0, 40.0, 240.0, 3000.0]), vec![0.0, 0.0, 0.5, 1.0, 1.0]);
    }

    #[test]
    fn standardize_matches_deepbet_normalize() {
        // deepbet: c = clip((x - low) / (high - low), 0, 1); .226 * (c - c.mean()) / c.std() + .449
        let values: Vec<f32> = (0..101).map(|v| v as f32).collect();
        let fitted =
            Scaling::fit(&values, &Intensity::QuantileStandardize { lo: 0.1, hi: 0.9, mean: 0.449, std: 0.226 });
        assert_eq!(fitted, Scaling::Standardize { low: 10.0, high: 90.0, mean: 0.449, std: 0.226 });
        let out = fitted.apply(&values);
        let (m, s) = mean_std(&out, 1);
        assert!((m - 0.449).abs() < 1e-5 && (s - 0.226).abs() < 1e-5, "{m} {s}");
        assert_eq!(out[0], out[10], "values below the low quantile are clipped together");
    }
}
