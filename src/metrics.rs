//! Agreement between label maps: Dice, 95th-percentile Hausdorff distance (mm), volumes (mL).

use crate::volume::in_plane_axes;
use crate::volume::resample::Grid;

/// Dice of the voxels equal to `label` in `a` and in `b`; 1 when both are empty.
pub fn dice<T: Copy + PartialEq>(a: &[T], b: &[T], label: T) -> f64 {
    let (mut both, mut na, mut nb) = (0u64, 0u64, 0u64);
    for (&x, &y) in a.iter().zip(b) {
        let (ia, ib) = (x == label, y == label);
        na += ia as u64;
        nb += ib as u64;
        both += (ia && ib) as u64;
    }
    if na + nb == 0 {
        1.0
    } else {
        2.0 * both as f64 / (na + nb) as f64
    }
}

/// How one label agrees between two label maps on the same grid (what `medseg eval` prints for it).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LabelAgreement {
    /// The label value.
    pub label: u16,
    /// Dice of the label's voxels in the two maps.
    pub dice: f64,
    /// 95th-percentile Hausdorff distance (mm); `None` when either map lacks the label.
    pub hd95_mm: Option<f64>,
    /// Voxels of the label in the first map (`a`: the prediction, or the user's edit).
    pub voxels_a: u64,
    /// Voxels of the label in the second map (`b`: the ground truth, or the reference).
    pub voxels_b: u64,
}

/// Every label present in either map (0 excluded), in value order, with its Dice, HD95 and voxel
/// counts: the one comparison behind `medseg eval` and the page's "Compare with a reference".
pub fn agreement(a: &[u16], b: &[u16], grid: &Grid) -> Vec<LabelAgreement> {
    let counts =
        |values: &[u16]| crate::labels::count_labels(values).into_iter().collect::<std::collections::BTreeMap<_, _>>();
    let (in_a, in_b) = (counts(a), counts(b));
    let mut labels: Vec<u16> = in_a.keys().chain(in_b.keys()).copied().collect();
    labels.sort_unstable();
    labels.dedup();
    labels
        .into_iter()
        .map(|label| LabelAgreement {
            label,
            dice: dice(a, b, label),
            hd95_mm: hausdorff95(a, b, label, grid),
            voxels_a: in_a.get(&label).copied().unwrap_or(0),
            voxels_b: in_b.get(&label).copied().unwrap_or(0),
        })
        .collect()
}

/// Surface voxels of a mask (inside voxels with a 6-neighbour outside or on the grid's edge).
fn surface(mask: &[bool], shape: [usize; 3]) -> Vec<[usize; 3]> {
    let [nx, ny, nz] = shape;
    let mut out = Vec::new();
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                if !mask[x + nx * (y + ny * z)] {
                    continue;
                }
                let edge = x == 0 || y == 0 || z == 0 || x + 1 == nx || y + 1 == ny || z + 1 == nz;
                let outside = |dx: i64, dy: i64, dz: i64| {
                    let (a, b, c) = ((x as i64 + dx) as usize, (y as i64 + dy) as usize, (z as i64 + dz) as usize);
                    !mask[a + nx * (b + ny * c)]
                };
                if edge
                    || outside(1, 0, 0)
                    || outside(-1, 0, 0)
                    || outside(0, 1, 0)
                    || outside(0, -1, 0)
                    || outside(0, 0, 1)
                    || outside(0, 0, -1)
                {
                    out.push([x, y, z]);
                }
            }
        }
    }
    out
}

/// 95th-percentile symmetric Hausdorff distance (mm) between the surfaces of `label` in `a` and
/// `b`, both on `grid`; `None` when either is empty. Exact for grids with orthogonal axes (any
/// spacing and rotation); time and memory are linear in the box around both surfaces.
pub fn hausdorff95(a: &[u16], b: &[u16], label: u16, grid: &Grid) -> Option<f64> {
    let sa = surface(&a.iter().map(|&v| v == label).collect::<Vec<_>>(), grid.shape);
    let sb = surface(&b.iter().map(|&v| v == label).collect::<Vec<_>>(), grid.shape);
    if sa.is_empty() || sb.is_empty() {
        return None;
    }
    let spacing = grid.spacing_mm();
    let region = Region::around(sa.iter().chain(&sb));
    let mut distances = region.distances_from(&sa, &region.squared_distance_map(&sb, spacing));
    distances.extend(region.distances_from(&sb, &region.squared_distance_map(&sa, spacing)));
    distances.sort_by(f64::total_cmp);
    let rank = ((distances.len() as f64) * 0.95).ceil() as usize;
    Some(distances[rank.clamp(1, distances.len()) - 1])
}

/// The voxel box holding a set of points.
struct Region {
    origin: [usize; 3],
    shape: [usize; 3],
}

impl Region {
    fn around<'p>(points: impl Iterator<Item = &'p [usize; 3]>) -> Region {
        let (mut lo, mut hi) = ([usize::MAX; 3], [0usize; 3]);
        for p in points {
            for axis in 0..3 {
                lo[axis] = lo[axis].min(p[axis]);
                hi[axis] = hi[axis].max(p[axis]);
            }
        }
        Region { origin: lo, shape: std::array::from_fn(|axis| hi[axis] - lo[axis] + 1) }
    }

    fn index(&self, p: &[usize; 3]) -> usize {
        let [x, y, z] = std::array::from_fn(|axis| p[axis] - self.origin[axis]);
        x + self.shape[0] * (y + self.shape[1] * z)
    }

    /// Squared distance (mm²) from every voxel of the region to the nearest of `targets`: an exact
    /// Euclidean distance transform, one pass per axis (Felzenszwalb & Huttenlocher).
    fn squared_distance_map(&self, targets: &[[usize; 3]], spacing: [f64; 3]) -> Vec<f64> {
        let mut map = vec![f64::INFINITY; self.shape.iter().product()];
        for p in targets {
            map[self.index(p)] = 0.0;
        }
        let strides = [1, self.shape[0], self.shape[0] * self.shape[1]];
        let longest = *self.shape.iter().max().unwrap_or(&1);
        let (mut line, mut out) = (vec![0.0; longest], vec![0.0; longest]);
        let mut envelope = LowerEnvelope::with_capacity(longest);
        for axis in 0..3 {
            let n = self.shape[axis];
            let (u, v) = in_plane_axes(axis);
            for j in 0..self.shape[v] {
                for i in 0..self.shape[u] {
                    let start = i * strides[u] + j * strides[v];
                    for (k, value) in line[..n].iter_mut().enumerate() {
                        *value = map[start + k * strides[axis]];
                    }
                    envelope.transform(&line[..n], spacing[axis], &mut out[..n]);
                    for (k, value) in out[..n].iter().enumerate() {
                        map[start + k * strides[axis]] = *value;
                    }
                }
            }
        }
        map
    }

    /// The distance (mm) at each of `points` in a squared distance map.
    fn distances_from(&self, points: &[[usize; 3]], squared: &[f64]) -> Vec<f64> {
        points.iter().map(|p| squared[self.index(p)].sqrt()).collect()
    }
}

/// The lower envelope of the parabolas (x − q·s)² + f(q), reused line after line.
struct LowerEnvelope {
    /// Positions (indices) of the parabolas in the envelope.
    apex: Vec<usize>,
    /// Where each envelope parabola starts to be the lowest (in index units).
    from: Vec<f64>,
}

impl LowerEnvelope {
    fn with_capacity(n: usize) -> LowerEnvelope {
        LowerEnvelope { apex: Vec::with_capacity(n), from: Vec::with_capacity(n + 1) }
    }

    /// `out[x] = min_q (s·(x − q))² + f[q]`; infinite where every `f` is.
    fn transform(&mut self, f: &[f64], s: f64, out: &mut [f64]) {
        let s2 = s * s;
        let height = |q: usize| f[q] + s2 * (q * q) as f64;
        self.apex.clear();
        self.from.clear();
        for q in (0..f.len()).filter(|&q| f[q].is_finite()) {
            loop {
                let Some(&p) = self.apex.last() else {
                    self.apex.push(q);
                    self.from.push(f64::NEG_INFINITY);
                    break;
                };
                let crossing = (height(q) - height(p)) / (2.0 * s2 * (q - p) as f64);
                if crossing <= *self.from.last().unwrap_or(&f64::NEG_INFINITY) {
                    self.apex.pop();
                    self.from.pop();
                } else {
                    self.apex.push(q);
                    self.from.push(crossing);
                    break;
                }
            }
        }
        if self.apex.is_empty() {
            out.fill(f64::INFINITY);
            return;
        }
        let mut k = 0;
        for (x, value) in out.iter_mut().enumerate() {
            while k + 1 < self.apex.len() && self.from[k + 1] < x as f64 {
                k += 1;
            }
            let q = self.apex[k];
            *value = s2 * (x as f64 - q as f64).powi(2) + f[q];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dice_of_overlapping_masks() {
        assert_eq!(dice(&[1, 1, 0, 0], &[1, 0, 1, 0], 1), 0.5);
        assert_eq!(dice(&[0, 0], &[0, 0], 3), 1.0);
    }

    #[test]
    fn hausdorff_of_shifted_cubes() {
        // 2 mm voxels.
        let affine = [[2.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 1.0]];
        let grid = Grid { shape: [10, 10, 10], affine };
        let cube = |shift: usize| -> Vec<u16> {
            (0..1000)
                .map(|i| {
                    let (x, y, z) = (i % 10, (i / 10) % 10, i / 100);
                    u16::from((2 + shift..6 + shift).contains(&x) && (2..6).contains(&y) && (2..6).contains(&z))
                })
                .collect()
        };
        assert_eq!(hausdorff95(&cube(0), &cube(0), 1, &grid), Some(0.0));
        assert_eq!(hausdorff95(&cube(0), &cube(1), 1, &grid), Some(2.0));
    }

    /// Brute force over every pair of surface points, in world coordinates.
    fn brute_force_hd95(a: &[u16], b: &[u16], grid: &Grid) -> f64 {
        let world = |p: &[usize; 3]| -> [f64; 3] {
            std::array::from_fn(|r| (0..3).map(|c| grid.affine[r][c] * p[c] as f64).sum::<f64>())
        };
        let sa: Vec<_> =
            surface(&a.iter().map(|&v| v == 1).collect::<Vec<_>>(), grid.shape).iter().map(world).collect();
        let sb: Vec<_> =
            surface(&b.iter().map(|&v| v == 1).collect::<Vec<_>>(), grid.shape).iter().map(world).collect();
        let nearest = |p: &[f64; 3], to: &[[f64; 3]]| {
            to.iter().map(|q| (0..3).map(|i| (p[i] - q[i]).powi(2)).sum::<f64>().sqrt()).fold(f64::INFINITY, f64::min)
        };
        let mut d: Vec<f64> = sa.iter().map(|p| nearest(p, &sb)).chain(sb.iter().map(|p| nearest(p, &sa))).collect();
        d.sort_by(f64::total_cmp);
        d[((d.len() as f64) * 0.95).ceil() as usize - 1]
    }

    #[test]
    fn hausdorff_equals_brute_force_on_anisotropic_rotated_grids() {
        // A rotation about z by 30° with spacing 0.7 × 1.3 × 3 mm.
        let (c, s) = (30f64.to_radians().cos(), 30f64.to_radians().sin());
        let affine =
            [[0.7 * c, -1.3 * s, 0.0, 5.0], [0.7 * s, 1.3 * c, 0.0, -2.0], [0.0, 0.0, 3.0, 1.0], [0.0, 0.0, 0.0, 1.0]];
        let grid = Grid { shape: [17, 13, 9], affine };
        let blob = |cx: f64, cy: f64, cz: f64, r: f64| -> Vec<u16> {
            (0..17 * 13 * 9)
                .map(|i| {
                    let (x, y, z) = ((i % 17) as f64, ((i / 17) % 13) as f64, (i / (17 * 13)) as f64);
                    u16::from((x - cx).powi(2) + (y - cy).powi(2) + ((z - cz) * 2.0).powi(2) <= r * r)
                })
                .collect()
        };
        let (a, b) = (blob(6.0, 6.0, 4.0, 4.5), blob(10.0, 7.0, 5.0, 3.0));
        let fast = hausdorff95(&a, &b, 1, &grid).unwrap();
        assert!((fast - brute_force_hd95(&a, &b, &grid)).abs() < 1e-9, "{fast}");
    }

    #[test]
    fn hausdorff_is_quick_for_far_apart_points_with_huge_spacing() {
        // Spacing 1e5 mm, two single voxels at opposite corners: once a hang.
        let affine = [[1e5, 0.0, 0.0, 0.0], [0.0, 1e5, 0.0, 0.0], [0.0, 0.0, 1e5, 0.0], [0.0, 0.0, 0.0, 1.0]];
        let grid = Grid { shape: [4, 4, 4], affine };
        let (mut a, mut b) = (vec![0u16; 64], vec![0u16; 64]);
        a[0] = 1;
        b[63] = 1;
        let expected = (3.0f64 * 9.0).sqrt() * 1e5;
        assert!((hausdorff95(&a, &b, 1, &grid).unwrap() - expected).abs() < 1e-6);
    }

    #[test]
    fn agreement_lists_every_label_of_either_map_with_its_counts() {
        let grid = Grid {
            shape: [4, 1, 1],
            affine: [[2.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]],
        };
        let (a, b) = ([1u16, 1, 0, 3], [1u16, 2, 2, 0]);
        let rows = agreement(&a, &b, &grid);
        assert_eq!(rows.iter().map(|r| r.label).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!((rows[0].voxels_a, rows[0].voxels_b), (2, 1));
        assert!((rows[0].dice - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(rows[0].hd95_mm, Some(2.0), "voxel 1 of a lies 2 mm from b's label 1");
        assert_eq!((rows[1].dice, rows[1].hd95_mm, rows[1].voxels_a, rows[1].voxels_b), (0.0, None, 0, 2));
        assert_eq!((rows[2].dice, rows[2].voxels_a), (0.0, 1));
    }
}
