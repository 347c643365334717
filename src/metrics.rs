//! Agreement between label maps: Dice, 95th-percentile Hausdorff distance (mm), volumes (mL).

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
/// `b`, both on `grid`; `None` when either is empty.
pub fn hausdorff95(a: &[u16], b: &[u16], label: u16, grid: &Grid) -> Option<f64> {
    let sa = surface(&a.iter().map(|&v| v == label).collect::<Vec<_>>(), grid.shape);
    let sb = surface(&b.iter().map(|&v| v == label).collect::<Vec<_>>(), grid.shape);
    if sa.is_empty() || sb.is_empty() {
        return None;
    }
    let world = |p: &[usize; 3]| -> [f64; 3] {
        std::array::from_fn(|r| (0..3).map(|c| grid.affine[r][c] * p[c] as f64).sum::<f64>())
    };
    let (wa, wb): (Vec<_>, Vec<_>) = (sa.iter().map(world).collect(), sb.iter().map(world).collect());
    let mut distances = directed(&wa, &wb);
    distances.extend(directed(&wb, &wa));
    distances.sort_by(f64::total_cmp);
    let rank = ((distances.len() as f64) * 0.95).ceil() as usize;
    Some(distances[rank.clamp(1, distances.len()) - 1])
}

/// For each point of `from`, the distance to the nearest point of `to` (bucketed by a coarse grid).
fn directed(from: &[[f64; 3]], to: &[[f64; 3]]) -> Vec<f64> {
    const CELL: f64 = 8.0;
    let key = |p: &[f64; 3]| p.map(|v| (v / CELL).floor() as i64);
    let mut buckets: std::collections::HashMap<[i64; 3], Vec<[f64; 3]>> = std::collections::HashMap::new();
    for p in to {
        buckets.entry(key(p)).or_default().push(*p);
    }
    from.iter()
        .map(|p| {
            let k = key(p);
            let mut best = f64::INFINITY;
            let mut radius = 0i64;
            // Widen the search ring until the best distance is certainly inside it.
            loop {
                for dz in -radius..=radius {
                    for dy in -radius..=radius {
                        for dx in -radius..=radius {
                            if dx.abs().max(dy.abs()).max(dz.abs()) != radius {
                                continue;
                            }
                            if let Some(points) = buckets.get(&[k[0] + dx, k[1] + dy, k[2] + dz]) {
                                for q in points {
                                    let d =
                                        ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt();
                                    best = best.min(d);
                                }
                            }
                        }
                    }
                }
                if best <= radius as f64 * CELL || radius > 4096 {
                    return best;
                }
                radius += 1;
            }
        })
        .collect()
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
}
