//! Turning network outputs into clean label maps: argmax over channels, keeping the largest
//! connected component, filling holes.

use rayon::prelude::*;

/// Per voxel, the channel with the largest logit (the first on ties). `logits` is `[C, N]`
/// (channel-major); runs in parallel over blocks of voxels.
pub fn argmax(logits: &[f32], channels: usize) -> Vec<u16> {
    const BLOCK: usize = 1 << 14;
    let n = logits.len() / channels.max(1);
    let mut best = vec![0u16; n];
    best.par_chunks_mut(BLOCK).enumerate().for_each(|(block, out)| {
        for (i, label) in out.iter_mut().enumerate() {
            let v = block * BLOCK + i;
            let mut top = logits[v];
            for c in 1..channels {
                let x = logits[c * n + v];
                if x > top {
                    top = x;
                    *label = c as u16;
                }
            }
        }
    });
    best
}

/// Offsets of the 26 neighbours of a voxel.
fn neighbours_26() -> Vec<[i64; 3]> {
    (-1..=1)
        .flat_map(|z| (-1..=1).flat_map(move |y| (-1..=1).map(move |x| [x, y, z])))
        .filter(|d| *d != [0, 0, 0])
        .collect()
}

/// Offsets of the 6 face neighbours of a voxel.
const NEIGHBOURS_6: [[i64; 3]; 6] = [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]];

/// One bit per voxel: a flood fill's visited set (1/32 of a `u32` component id per voxel).
struct Bits(Vec<u64>);

impl Bits {
    fn new(len: usize) -> Bits {
        Bits(vec![0; len.div_ceil(64)])
    }
    fn get(&self, i: usize) -> bool {
        self.0[i / 64] >> (i % 64) & 1 == 1
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
}

/// Breadth-first flood from `seeds` through voxels where `inside` holds, marking them in
/// `visited`; returns how many it reached. The queue holds only the front of the flood.
fn flood(
    seeds: impl Iterator<Item = usize>,
    inside: impl Fn(usize) -> bool,
    shape: [usize; 3],
    offsets: &[[i64; 3]],
    visited: &mut Bits,
) -> usize {
    let [nx, ny, nz] = shape;
    let mut queue = std::collections::VecDeque::new();
    for seed in seeds {
        if inside(seed) && !visited.get(seed) {
            visited.set(seed);
            queue.push_back(seed);
        }
    }
    let mut reached = 0;
    while let Some(v) = queue.pop_front() {
        reached += 1;
        let (x, y, z) = ((v % nx) as i64, ((v / nx) % ny) as i64, (v / (nx * ny)) as i64);
        for d in offsets {
            let (a, b, c) = (x + d[0], y + d[1], z + d[2]);
            if a < 0 || b < 0 || c < 0 || a >= nx as i64 || b >= ny as i64 || c >= nz as i64 {
                continue;
            }
            let w = a as usize + nx * (b as usize + ny * c as usize);
            if !visited.get(w) && inside(w) {
                visited.set(w);
                queue.push_back(w);
            }
        }
    }
    reached
}

/// Keeps only the largest 26-connected component of the non-zero voxels (labels kept).
pub fn keep_largest_component(labels: &mut [u16], shape: [usize; 3]) {
    let offsets = neighbours_26();
    let mut visited = Bits::new(labels.len());
    let mut largest: Option<(usize, usize)> = None; // (size, a voxel of it)
    for start in 0..labels.len() {
        if labels[start] != 0 && !visited.get(start) {
            let size = flood(std::iter::once(start), |v| labels[v] != 0, shape, &offsets, &mut visited);
            if largest.is_none_or(|(most, _)| size > most) {
                largest = Some((size, start));
            }
        }
    }
    let Some((_, seed)) = largest else { return };
    let mut kept = Bits::new(labels.len());
    flood(std::iter::once(seed), |v| labels[v] != 0, shape, &offsets, &mut kept);
    for (i, l) in labels.iter_mut().enumerate() {
        if !kept.get(i) {
            *l = 0;
        }
    }
}

/// Fills background regions not connected (6-connectivity) to the volume's border with `fill`
/// (as `scipy.ndimage.binary_fill_holes`).
pub fn fill_holes(labels: &mut [u16], shape: [usize; 3], fill: u16) {
    let [nx, ny, nz] = shape;
    let border = (0..nz).flat_map(move |z| {
        (0..ny).flat_map(move |y| {
            let whole_row = z == 0 || y == 0 || z + 1 == nz || y + 1 == ny;
            let xs: Vec<usize> = if whole_row { (0..nx).collect() } else { vec![0, nx - 1] };
            xs.into_iter().map(move |x| x + nx * (y + ny * z))
        })
    });
    let mut outside = Bits::new(labels.len());
    flood(border, |v| labels[v] == 0, shape, &NEIGHBOURS_6, &mut outside);
    for (i, l) in labels.iter_mut().enumerate() {
        if *l == 0 && !outside.get(i) {
            *l = fill;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_picks_the_largest_channel() {
        // 2 channels × 3 voxels: channel 0 = [1, 5, 0], channel 1 = [2, 1, 0.5].
        assert_eq!(argmax(&[1.0, 5.0, 0.0, 2.0, 1.0, 0.5], 2), vec![1, 0, 1]);
    }

    #[test]
    fn largest_component_and_holes() {
        let shape = [7, 7, 7];
        let at = |x: usize, y: usize, z: usize| x + 7 * (y + 7 * z);
        let mut l = vec![0u16; 343];
        for z in 2..=4 {
            for y in 2..=4 {
                for x in 2..=4 {
                    l[at(x, y, z)] = 1; // a hollow 3×3×3 shell around (3, 3, 3)
                }
            }
        }
        l[at(3, 3, 3)] = 0;
        l[at(0, 0, 6)] = 1; // a separate speck in a corner
        keep_largest_component(&mut l, shape);
        assert_eq!(l[at(0, 0, 6)], 0, "the speck is removed");
        assert_eq!(l[at(2, 2, 2)], 1, "the shell stays");
        fill_holes(&mut l, shape, 1);
        assert_eq!(l[at(3, 3, 3)], 1, "the hole inside the shell is filled");
        assert_eq!(l[0], 0);
    }
}
