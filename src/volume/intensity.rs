//! Intensity statistics: exact quantiles of a volume's finite values (for auto-windowing and
//! quantile scaling).

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

#[cfg(test)]
mod tests {
    use super::quantiles;

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
