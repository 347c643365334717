//! Turning network outputs into clean label maps: argmax over channels, keeping the largest
//! connected component, filling holes.

/// Per voxel, the channel with the largest logit. `logits` is `[C, N]` (channel-major).
pub fn argmax(logits: &[f32], channels: usize) -> Vec<u16> {
    let n = logits.len() / channels.max(1);
    let mut best = vec![0u16; n];
    let mut best_value = logits[..n].to_vec();
    for c in 1..channels {
        let plane = &logits[c * n..(c + 1) * n];
        for ((b, bv), &v) in best.iter_mut().zip(best_value.iter_mut()).zip(plane) {
            if v > *bv {
                *bv = v;
                *b = c as u16;
            }
        }
    }
    best
}

/// Offsets of the 26 neighbours of a voxel.
fn neighbours_26() -> impl Iterator<Item = [i64; 3]> {
    (-1..=1).flat_map(|z| (-1..=1).flat_map(move |y| (-1..=1).map(move |x| [x, y, z]))).filter(|d| *d != [0, 0, 0])
}

/// Labels the connected components of `mask` (26-connectivity); returns (component per voxel,
/// 0 = background, and the size of each component, index 0 unused).
fn components(mask: &[bool], shape: [usize; 3], connectivity_26: bool) -> (Vec<u32>, Vec<usize>) {
    let [nx, ny, nz] = shape;
    let offsets: Vec<[i64; 3]> = if connectivity_26 {
        neighbours_26().collect()
    } else {
        vec![[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]]
    };
    let mut id = vec![0u32; mask.len()];
    let mut sizes = vec![0usize];
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || id[start] != 0 {
            continue;
        }
        let label = sizes.len() as u32;
        sizes.push(0);
        id[start] = label;
        stack.push(start);
        while let Some(v) = stack.pop() {
            sizes[label as usize] += 1;
            let (x, y, z) = ((v % nx) as i64, ((v / nx) % ny) as i64, (v / (nx * ny)) as i64);
            for d in &offsets {
                let (a, b, c) = (x + d[0], y + d[1], z + d[2]);
                if a < 0 || b < 0 || c < 0 || a >= nx as i64 || b >= ny as i64 || c >= nz as i64 {
                    continue;
                }
                let w = a as usize + nx * (b as usize + ny * c as usize);
                if mask[w] && id[w] == 0 {
                    id[w] = label;
                    stack.push(w);
                }
            }
        }
    }
    (id, sizes)
}

/// Keeps only the largest 26-connected component of the non-zero voxels (labels kept).
pub fn keep_largest_component(labels: &mut [u16], shape: [usize; 3]) {
    let mask: Vec<bool> = labels.iter().map(|&l| l != 0).collect();
    let (id, sizes) = components(&mask, shape, true);
    let Some(largest) = (1..sizes.len()).max_by_key(|&i| sizes[i]) else { return };
    for (l, &c) in labels.iter_mut().zip(&id) {
        if c != largest as u32 {
            *l = 0;
        }
    }
}

/// Fills background regions not connected (6-connectivity) to the volume's border with `fill`
/// (as `scipy.ndimage.binary_fill_holes`).
pub fn fill_holes(labels: &mut [u16], shape: [usize; 3], fill: u16) {
    let background: Vec<bool> = labels.iter().map(|&l| l == 0).collect();
    let (id, _) = components(&background, shape, false);
    let [nx, ny, nz] = shape;
    let mut touches_border = std::collections::HashSet::new();
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                if x == 0 || y == 0 || z == 0 || x == nx - 1 || y == ny - 1 || z == nz - 1 {
                    touches_border.insert(id[x + nx * (y + ny * z)]);
                }
            }
        }
    }
    for (l, c) in labels.iter_mut().zip(&id) {
        if *c != 0 && !touches_border.contains(c) {
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
