//! Moving voxels between grids through their affines: FreeSurfer-style conforming (256³, 1 mm,
//! LIA) for the models that expect it, and nearest-neighbour resampling of label maps back onto
//! a scan's own grid.

use nalgebra::{Matrix4, Vector4};
use rayon::prelude::*;

use super::geometry::{axis_lengths, orientation_letters, voxel_volume, Affine};
use super::scan::Volume;

/// A 3D grid: size (x fastest) and voxel→world affine in millimetres.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    /// Voxels along x, y, z.
    pub shape: [usize; 3],
    /// Voxel→world (mm).
    pub affine: Affine,
}

impl Grid {
    /// The grid of volume `scan` (its first three dims, affine in mm).
    pub fn of(scan: &Volume) -> Grid {
        Grid { shape: scan.shape3(), affine: scan.geometry.affine_mm() }
    }

    /// Length of each voxel axis (mm).
    pub fn spacing_mm(&self) -> [f64; 3] {
        axis_lengths(&self.affine)
    }

    /// Volume of one voxel (mm³).
    pub fn voxel_volume_mm3(&self) -> f64 {
        voxel_volume(&self.affine)
    }

    /// Voxels in the grid.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True for a grid without voxels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The grid covering the same extent with voxels of about `spacing` mm (x, y, z): each axis
    /// gets `round(n · old / new)` voxels (at least 1), stretched to cover exactly the `n` old
    /// ones, as skimage's `resize` (which HD-BET and nnU-Net resample with) maps them.
    pub fn with_spacing(&self, spacing: [f64; 3]) -> Grid {
        let old = self.spacing_mm();
        let shape: [usize; 3] =
            std::array::from_fn(|a| ((self.shape[a] as f64 * old[a] / spacing[a]).round() as usize).max(1));
        let ratio: [f64; 3] = std::array::from_fn(|a| self.shape[a] as f64 / shape[a] as f64);
        // Continuous old index of the new voxel 0's centre on each axis.
        let first = ratio.map(|r| -0.5 + 0.5 * r);
        let origin = apply(&self.affine, first);
        let mut affine = self.affine;
        for r in 0..3 {
            for (c, ratio) in ratio.iter().enumerate() {
                affine[r][c] = self.affine[r][c] * ratio;
            }
            affine[r][3] = origin[r];
        }
        Grid { shape, affine }
    }

    /// FreeSurfer's conformed grid for a scan: 256³ voxels of 1 mm in LIA orientation, centred
    /// where the scan's centre (voxel dims/2) is.
    pub fn conformed_for(scan: &Grid) -> Grid {
        let centre = apply(&scan.affine, scan.shape.map(|n| n as f64 / 2.0));
        // Columns: i → Left (−x), j → Inferior (−z), k → Anterior (+y).
        let rotation = [[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]];
        let mut affine = [[0.0; 4]; 4];
        for r in 0..3 {
            affine[r][..3].copy_from_slice(&rotation[r]);
            affine[r][3] = centre[r] - (0..3).map(|c| rotation[r][c] * 128.0).sum::<f64>();
        }
        affine[3][3] = 1.0;
        Grid { shape: [256; 3], affine }
    }

    /// The same voxels reordered (no interpolation) so that the axes run closest to R, A, S —
    /// nibabel's `as_closest_canonical`. A grid whose axes cannot be told apart is returned as is.
    pub fn closest_canonical(&self) -> Grid {
        let letters: Vec<char> = orientation_letters(&self.affine).chars().collect();
        // For canonical axis j: the scan axis that runs along it, and whether it runs backwards.
        let mut source = [None; 3];
        for (i, letter) in letters.iter().enumerate() {
            let (j, backwards) = match letter {
                'R' => (0, false),
                'L' => (0, true),
                'A' => (1, false),
                'P' => (1, true),
                'S' => (2, false),
                'I' => (2, true),
                _ => return self.clone(),
            };
            source[j] = Some((i, backwards));
        }
        let Some(source) = source.into_iter().collect::<Option<Vec<_>>>() else { return self.clone() };
        // canonical index → scan index
        let mut to_scan = Matrix4::<f64>::zeros();
        to_scan[(3, 3)] = 1.0;
        for (j, &(i, backwards)) in source.iter().enumerate() {
            if backwards {
                to_scan[(i, j)] = -1.0;
                to_scan[(i, 3)] = self.shape[i] as f64 - 1.0;
            } else {
                to_scan[(i, j)] = 1.0;
            }
        }
        let affine = matrix(&self.affine) * to_scan;
        Grid {
            shape: std::array::from_fn(|j| self.shape[source[j].0]),
            affine: std::array::from_fn(|r| std::array::from_fn(|c| affine[(r, c)])),
        }
    }

    /// True when `other` has the same size and an affine equal within `tolerance` (mm).
    pub fn matches(&self, other: &Grid, tolerance: f64) -> bool {
        self.shape == other.shape
            && (0..3).all(|r| (0..4).all(|c| (self.affine[r][c] - other.affine[r][c]).abs() <= tolerance))
    }

    /// The affine mapping this grid's voxel indices to `other`'s voxel indices.
    fn index_map_to(&self, other: &Grid) -> Option<Matrix4<f64>> {
        let to_world = matrix(&self.affine);
        let from_world = matrix(&other.affine).try_inverse()?;
        Some(from_world * to_world)
    }
}

fn matrix(a: &Affine) -> Matrix4<f64> {
    Matrix4::from_fn(|r, c| a[r][c])
}

fn apply(a: &Affine, p: [f64; 3]) -> [f64; 3] {
    std::array::from_fn(|r| a[r][0] * p[0] + a[r][1] * p[1] + a[r][2] * p[2] + a[r][3])
}

/// Resamples `values` (on `from`) onto `to` with trilinear interpolation; outside is 0.
pub fn resample_linear(values: &[f32], from: &Grid, to: &Grid) -> Vec<f32> {
    let Some(map) = to.index_map_to(from) else { return vec![0.0; to.len()] };
    let [nx, ny, nz] = from.shape;
    let at = |x: usize, y: usize, z: usize| values[x + nx * (y + ny * z)];
    resample_with(to, &map, |p| {
        let f = p.map(f64::floor);
        let (x0, y0, z0) = (f[0] as i64, f[1] as i64, f[2] as i64);
        if x0 < -1 || y0 < -1 || z0 < -1 || x0 >= nx as i64 || y0 >= ny as i64 || z0 >= nz as i64 {
            return 0.0;
        }
        let w = [p[0] - f[0], p[1] - f[1], p[2] - f[2]];
        let mut sum = 0.0f64;
        for corner in 0..8 {
            let (dx, dy, dz) = (corner & 1, (corner >> 1) & 1, (corner >> 2) & 1);
            let (x, y, z) = (x0 + dx as i64, y0 + dy as i64, z0 + dz as i64);
            if x < 0 || y < 0 || z < 0 || x >= nx as i64 || y >= ny as i64 || z >= nz as i64 {
                continue;
            }
            let weight = [w[0], w[1], w[2]]
                .iter()
                .zip([dx, dy, dz])
                .map(|(w, d)| if d == 1 { *w } else { 1.0 - w })
                .product::<f64>();
            sum += weight * f64::from(at(x as usize, y as usize, z as usize));
        }
        sum as f32
    })
}

/// Resamples `values` (on `from`) onto `to` by nearest neighbour; outside is the default
/// (0). Between grids that differ by a reordering of axes this moves voxels exactly; onto the
/// same grid it hands `values` back without a copy.
pub fn resample_nearest<T: Copy + Default + Send + Sync>(values: Vec<T>, from: &Grid, to: &Grid) -> Vec<T> {
    if from.matches(to, 1e-6) {
        return values;
    }
    let Some(map) = to.index_map_to(from) else { return vec![T::default(); to.len()] };
    if let Some(steps) = whole_voxel_steps(&map) {
        return reorder(&values, from.shape, to.shape, steps);
    }
    let [nx, ny, nz] = from.shape;
    resample_with(to, &map, |p| {
        let [x, y, z] = p.map(|v| v.round());
        if x < 0.0 || y < 0.0 || z < 0.0 || x >= nx as f64 || y >= ny as f64 || z >= nz as f64 {
            return T::default();
        }
        values[x as usize + nx * (y as usize + ny * z as usize)]
    })
}

/// When an index map only permutes and flips axes and shifts by whole voxels (a
/// reorientation, as onto the closest canonical grid): the source voxel step of each target axis
/// and the source voxel of target voxel 0, as integers.
fn whole_voxel_steps(map: &Matrix4<f64>) -> Option<[[i64; 3]; 4]> {
    let mut steps = [[0i64; 3]; 4];
    for (c, step) in steps.iter_mut().enumerate() {
        for (r, v) in step.iter_mut().enumerate() {
            let value = map[(r, c)];
            if (value - value.round()).abs() > 1e-6 {
                return None;
            }
            *v = value.round() as i64;
        }
    }
    steps[..3].iter().all(|s| s.iter().map(|v| v.abs()).sum::<i64>() == 1).then_some(steps)
}

/// Nearest-neighbour resampling for [`whole_voxel_steps`]: each target row is a strided copy of
/// source voxels (the default outside the source), one target plane per rayon task.
fn reorder<T: Copy + Default + Send + Sync>(
    values: &[T],
    from: [usize; 3],
    to: [usize; 3],
    [x_step, y_step, z_step, origin]: [[i64; 3]; 4],
) -> Vec<T> {
    let [tx, ty, _] = to;
    let mut out = vec![T::default(); to.iter().product()];
    if out.is_empty() {
        return out;
    }
    let flat = |p: [i64; 3]| p[0] + from[0] as i64 * (p[1] + from[1] as i64 * p[2]);
    let inside = |p: [i64; 3]| (0..3).all(|a| (0..from[a] as i64).contains(&p[a]));
    let along = |p: [i64; 3], step: [i64; 3], n: i64| std::array::from_fn(|a| p[a] + step[a] * n);
    out.par_chunks_mut(tx * ty).enumerate().for_each(|(z, plane)| {
        for (y, line) in plane.chunks_mut(tx).enumerate() {
            let first = along(along(origin, y_step, y as i64), z_step, z as i64);
            for (x, value) in line.iter_mut().enumerate() {
                let p = along(first, x_step, x as i64);
                if inside(p) {
                    *value = values[flat(p) as usize];
                }
            }
        }
    });
    out
}

/// Resizes a block (x fastest) to `to` voxels by nearest neighbour with PyTorch's
/// `nearest-exact` rule: source index `min(floor((dst + 0.5) · n_in / n_out), n_in − 1)`,
/// computed in float32 as PyTorch does.
pub fn resize_nearest_exact<T: Copy + Default + Send + Sync>(values: &[T], from: [usize; 3], to: [usize; 3]) -> Vec<T> {
    let sources = |axis: usize| -> Vec<usize> {
        let scale = from[axis] as f32 / to[axis] as f32;
        (0..to[axis]).map(|d| (((d as f32 + 0.5) * scale).floor() as usize).min(from[axis] - 1)).collect()
    };
    let (xs, ys, zs) = (sources(0), sources(1), sources(2));
    let mut out = vec![T::default(); to.iter().product()];
    if out.is_empty() {
        return out;
    }
    out.par_chunks_mut(to[0] * to[1]).zip(&zs).for_each(|(plane, &z)| {
        for (line, &y) in plane.chunks_mut(to[0]).zip(&ys) {
            let row = &values[from[0] * (y + from[1] * z)..];
            line.iter_mut().zip(&xs).for_each(|(out, &x)| *out = row[x]);
        }
    });
    out
}

/// `sample` at every voxel of `to` (its index mapped by `map`), one plane per rayon task.
fn resample_with<T: Copy + Default + Send>(
    to: &Grid,
    map: &Matrix4<f64>,
    sample: impl Fn([f64; 3]) -> T + Sync,
) -> Vec<T> {
    let [tx, ty, _] = to.shape;
    let mut out = vec![T::default(); to.len()];
    if out.is_empty() {
        return out;
    }
    let step = map.column(0);
    out.par_chunks_mut(tx * ty).enumerate().for_each(|(z, plane)| {
        for (y, line) in plane.chunks_mut(tx).enumerate() {
            let row = map * Vector4::new(0.0, y as f64, z as f64, 1.0);
            for (x, value) in line.iter_mut().enumerate() {
                *value =
                    sample([row[0] + step[0] * x as f64, row[1] + step[1] * x as f64, row[2] + step[2] * x as f64]);
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity_grid(shape: [usize; 3]) -> Grid {
        let affine = [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]];
        Grid { shape, affine }
    }

    #[test]
    fn a_new_spacing_covers_the_same_extent_as_skimage_resize() {
        let scan = identity_grid([256, 10, 3]);
        let grid = scan.with_spacing([1.5, 1.0, 2.0]);
        assert_eq!(grid.shape, [171, 10, 2]);
        // A ramp along x: new voxel i samples old x = (i + 0.5) · 256/171 − 0.5 (skimage's mapping).
        let ramp: Vec<f32> = (0..scan.len()).map(|i| (i % 256) as f32).collect();
        let resampled = resample_linear(&ramp, &scan, &grid);
        for i in [0usize, 1, 85, 169] {
            let want = (i as f64 + 0.5) * 256.0 / 171.0 - 0.5;
            assert!((f64::from(resampled[i]) - want).abs() < 1e-3, "x {i}: {} vs {want}", resampled[i]);
        }
        assert_eq!(grid.affine[2][3], -0.5 + 0.5 * 1.5, "z: 3 voxels become 2 centred on the same extent");
    }

    #[test]
    fn conformed_grid_is_lia_and_centred() {
        let scan = identity_grid([100, 120, 80]);
        let c = Grid::conformed_for(&scan);
        assert_eq!(super::super::geometry::orientation_letters(&c.affine), "LIA");
        let centre = apply(&c.affine, [128.0, 128.0, 128.0]);
        assert_eq!(centre, [50.0, 60.0, 40.0]);
    }

    #[test]
    fn nearest_roundtrip_through_a_flip() {
        let a = identity_grid([4, 3, 2]);
        let mut flipped = a.clone();
        flipped.affine[0] = [-1.0, 0.0, 0.0, 3.0];
        let labels: Vec<u16> = (0..24).collect();
        let there = resample_nearest(labels.clone(), &a, &flipped);
        assert_eq!(there[0], 3, "voxel 0 of the flipped grid is voxel 3 of the original");
        assert_eq!(resample_nearest(there, &flipped, &a), labels);
    }

    #[test]
    fn reorientation_copies_as_the_per_voxel_rounding_does() {
        // axes permuted (x ← z, y ← x, z ← y), one flipped, shifted so that part falls outside
        let from = identity_grid([5, 4, 3]);
        let mut to = identity_grid([3, 6, 4]);
        to.affine = [[0.0, 1.0, 0.0, -1.0], [0.0, 0.0, -1.0, 3.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]];
        let values: Vec<u32> = (1..=60).collect();
        let map = to.index_map_to(&from).unwrap();
        assert!(whole_voxel_steps(&map).is_some(), "the fast path applies");
        let expected = resample_with(&to, &map, |p| {
            let [x, y, z] = p.map(|v| v.round());
            let inside = (0.0..5.0).contains(&x) && (0.0..4.0).contains(&y) && (0.0..3.0).contains(&z);
            if inside {
                values[x as usize + 5 * (y as usize + 4 * z as usize)]
            } else {
                0
            }
        });
        let got = resample_nearest(values.clone(), &from, &to);
        assert_eq!(got, expected);
        assert!(got.contains(&0) && got.iter().any(|&v| v > 0), "some voxels inside, some outside");
    }

    #[test]
    fn canonical_grid_reorders_exactly() {
        // LIA: i → left, j → inferior, k → anterior.
        let lia = Grid::conformed_for(&identity_grid([4, 5, 6]));
        let ras = lia.closest_canonical();
        assert_eq!(orientation_letters(&ras.affine), "RAS");
        let values: Vec<f32> = (0..lia.len()).map(|v| v as f32).collect();
        let there = resample_nearest(values.clone(), &lia, &ras);
        assert_eq!(resample_nearest(there.clone(), &ras, &lia), values);
        // Voxel (0, 0, 0) of LIA is the left-most, superior-most, posterior-most corner: in RAS
        // that is (x = n − 1, y = 0, z = n − 1).
        assert_eq!(there[255 + 256 * 256 * 255], 0.0);
    }

    #[test]
    fn nearest_exact_matches_pytorch() {
        // torch.nn.functional.interpolate(arange(5), size=3, mode="nearest-exact") picks 0, 2, 4;
        // to size 7 it picks 0, 1, 1, 2, 3, 3, 4.
        let line: Vec<u8> = (0..5).collect();
        assert_eq!(resize_nearest_exact(&line, [5, 1, 1], [3, 1, 1]), vec![0, 2, 4]);
        assert_eq!(resize_nearest_exact(&line, [5, 1, 1], [7, 1, 1]), vec![0, 1, 1, 2, 3, 3, 4]);
    }

    #[test]
    fn linear_interpolates_between_voxels() {
        let a = identity_grid([2, 1, 1]);
        let mut half = identity_grid([1, 1, 1]);
        half.affine[0][3] = 0.5;
        assert_eq!(resample_linear(&[0.0, 10.0], &a, &half), vec![5.0]);
    }
}
