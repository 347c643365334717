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

/// Which voxels touch: across faces only, or across faces, edges and corners.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Connectivity {
    Faces6,
    All26,
}

/// A run of consecutive voxels `[x0, x1)` along x in one row.
type Run = [u32; 2];

/// The connected regions of the voxels where `inside` holds, found from runs along x: each
/// row's runs (found in parallel) are joined with the runs they touch in the rows before it
/// (union-find), so the work grows with the number of runs rather than with voxels × neighbours.
struct Regions {
    shape: [usize; 3],
    /// Every run, row by row (rows y fastest, then z).
    runs: Vec<Run>,
    /// Row `r`'s runs are `runs[row_start[r]..row_start[r + 1]]`.
    row_start: Vec<usize>,
    /// Union-find parent of each run.
    parent: Vec<u32>,
}

impl Regions {
    fn find(shape: [usize; 3], connectivity: Connectivity, inside: impl Fn(usize) -> bool + Sync) -> Regions {
        let [nx, ny, nz] = shape;
        let per_row: Vec<Vec<Run>> = (0..ny * nz)
            .into_par_iter()
            .map(|row| {
                let mut runs = Vec::new();
                let mut x = 0;
                while x < nx {
                    if inside(row * nx + x) {
                        let x0 = x;
                        while x < nx && inside(row * nx + x) {
                            x += 1;
                        }
                        runs.push([x0 as u32, x as u32]);
                    }
                    x += 1;
                }
                runs
            })
            .collect();
        let mut row_start = Vec::with_capacity(per_row.len() + 1);
        row_start.push(0);
        for runs in &per_row {
            row_start.push(row_start.last().unwrap() + runs.len());
        }
        let runs: Vec<Run> = per_row.into_iter().flatten().collect();
        let parent = (0..runs.len() as u32).collect();
        let mut regions = Regions { shape, runs, row_start, parent };
        // The rows before (y, z) that can touch it: (y − 1, z); with 26-connectivity also
        // (y − 1, z − 1) and (y + 1, z − 1); runs touch when they overlap, or with 26-connectivity
        // when they are diagonal neighbours (x ranges one apart).
        let slack = u32::from(connectivity == Connectivity::All26);
        for z in 0..nz {
            for y in 0..ny {
                let row = y + ny * z;
                let mut before = vec![];
                if y > 0 {
                    before.push(row - 1);
                }
                if z > 0 {
                    before.push(row - ny);
                    if connectivity == Connectivity::All26 {
                        if y > 0 {
                            before.push(row - ny - 1);
                        }
                        if y + 1 < ny {
                            before.push(row - ny + 1);
                        }
                    }
                }
                for other in before {
                    regions.join_rows(row, other, slack);
                }
            }
        }
        regions
    }

    /// Unites the runs of rows `a` and `b` that touch (overlap, or lie `slack` apart).
    fn join_rows(&mut self, a: usize, b: usize, slack: u32) {
        let (mut i, i_end) = (self.row_start[a], self.row_start[a + 1]);
        let (mut j, j_end) = (self.row_start[b], self.row_start[b + 1]);
        while i < i_end && j < j_end {
            let (ra, rb) = (self.runs[i], self.runs[j]);
            if ra[0] < rb[1] + slack && rb[0] < ra[1] + slack {
                self.union(i, j);
            }
            // advance the run that ends first
            if ra[1] < rb[1] {
                i += 1;
            } else {
                j += 1;
            }
        }
    }

    fn root(&mut self, mut run: usize) -> usize {
        while self.parent[run] as usize != run {
            let grandparent = self.parent[self.parent[run] as usize];
            self.parent[run] = grandparent;
            run = grandparent as usize;
        }
        run
    }

    /// Joins two regions; the root is the run that comes first (so a region's root is its first
    /// run in raster order).
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.root(a), self.root(b));
        let (low, high) = (ra.min(rb), ra.max(rb));
        self.parent[high] = low as u32;
    }

    /// Each run's region (its root run).
    fn roots(&mut self) -> Vec<usize> {
        (0..self.runs.len()).map(|r| self.root(r)).collect()
    }

    /// Calls `each(voxel range, run index)` for every run.
    fn for_each_run(&self, mut each: impl FnMut(std::ops::Range<usize>, usize)) {
        let nx = self.shape[0];
        for row in 0..self.row_start.len() - 1 {
            for r in self.row_start[row]..self.row_start[row + 1] {
                let [x0, x1] = self.runs[r];
                each(row * nx + x0 as usize..row * nx + x1 as usize, r);
            }
        }
    }
}

/// Keeps only the largest 26-connected component of the non-zero voxels (labels kept); of
/// components of equal size, the first in raster order.
pub fn keep_largest_component(labels: &mut [u16], shape: [usize; 3]) {
    let mut regions = Regions::find(shape, Connectivity::All26, |v| labels[v] != 0);
    let roots = regions.roots();
    let mut sizes = vec![0usize; roots.len()];
    for (run, &root) in regions.runs.iter().zip(&roots) {
        sizes[root] += (run[1] - run[0]) as usize;
    }
    // roots in raster order; strictly larger wins, so the first of equals stays
    let Some(kept) = (0..sizes.len()).filter(|&r| roots[r] == r).reduce(|a, b| if sizes[b] > sizes[a] { b } else { a })
    else {
        return;
    };
    regions.for_each_run(|voxels, run| {
        if roots[run] != kept {
            labels[voxels].fill(0);
        }
    });
}

/// Fills background regions not connected (6-connectivity) to the volume's border with `fill`
/// (as `scipy.ndimage.binary_fill_holes`).
pub fn fill_holes(labels: &mut [u16], shape: [usize; 3], fill: u16) {
    let [nx, ny, nz] = shape;
    let mut regions = Regions::find(shape, Connectivity::Faces6, |v| labels[v] == 0);
    let roots = regions.roots();
    let mut outside = vec![false; roots.len()];
    let row_count = regions.row_start.len() - 1;
    for row in 0..row_count {
        let (y, z) = (row % ny, row / ny);
        let border_row = y == 0 || z == 0 || y + 1 == ny || z + 1 == nz;
        for r in regions.row_start[row]..regions.row_start[row + 1] {
            let [x0, x1] = regions.runs[r];
            if border_row || x0 == 0 || x1 as usize == nx {
                outside[roots[r]] = true;
            }
        }
    }
    regions.for_each_run(|voxels, run| {
        if !outside[roots[run]] {
            labels[voxels].fill(fill);
        }
    });
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

    /// The plain definition, voxel by voxel: breadth-first floods over `offsets`.
    fn flood(
        seeds: Vec<usize>,
        inside: impl Fn(usize) -> bool,
        shape: [usize; 3],
        offsets: &[[i64; 3]],
        seen: &mut [bool],
    ) -> usize {
        let [nx, ny, _] = shape;
        let mut queue: std::collections::VecDeque<usize> = seeds.into_iter().filter(|&v| inside(v)).collect();
        queue.iter().for_each(|&v| seen[v] = true);
        let mut reached = 0;
        while let Some(v) = queue.pop_front() {
            reached += 1;
            let p = [(v % nx) as i64, ((v / nx) % ny) as i64, (v / (nx * ny)) as i64];
            for d in offsets {
                let q = [p[0] + d[0], p[1] + d[1], p[2] + d[2]];
                if q.iter().zip(shape).any(|(&c, n)| c < 0 || c >= n as i64) {
                    continue;
                }
                let w = q[0] as usize + nx * (q[1] as usize + ny * q[2] as usize);
                if !seen[w] && inside(w) {
                    seen[w] = true;
                    queue.push_back(w);
                }
            }
        }
        reached
    }

    fn reference_largest(labels: &mut [u16], shape: [usize; 3]) {
        let all: Vec<[i64; 3]> =
            (0..27).map(|i| [i % 3 - 1, i / 3 % 3 - 1, i / 9 - 1]).filter(|d| *d != [0, 0, 0]).collect();
        let mut seen = vec![false; labels.len()];
        let mut best: Option<(usize, usize)> = None;
        for v in 0..labels.len() {
            if labels[v] != 0 && !seen[v] {
                let size = flood(vec![v], |w| labels[w] != 0, shape, &all, &mut seen);
                if best.is_none_or(|(most, _)| size > most) {
                    best = Some((size, v));
                }
            }
        }
        let Some((_, seed)) = best else { return };
        let mut kept = vec![false; labels.len()];
        flood(vec![seed], |w| labels[w] != 0, shape, &all, &mut kept);
        labels.iter_mut().zip(kept).filter(|(_, k)| !k).for_each(|(l, _)| *l = 0);
    }

    fn reference_fill(labels: &mut [u16], shape: [usize; 3], fill: u16) {
        let faces = [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]];
        let [nx, ny, nz] = shape;
        let border: Vec<usize> = (0..labels.len())
            .filter(|v| {
                let (x, y, z) = (v % nx, v / nx % ny, v / (nx * ny));
                x == 0 || y == 0 || z == 0 || x + 1 == nx || y + 1 == ny || z + 1 == nz
            })
            .collect();
        let mut outside = vec![false; labels.len()];
        flood(border, |w| labels[w] == 0, shape, &faces, &mut outside);
        labels.iter_mut().zip(outside).filter(|(l, o)| **l == 0 && !o).for_each(|(l, _)| *l = fill);
    }

    #[test]
    fn runs_and_union_find_agree_with_voxel_floods_on_random_volumes() {
        let mut state = 12345u64;
        for (case, shape) in [[9, 8, 7], [17, 5, 11], [1, 6, 6], [12, 1, 9], [20, 20, 20]].into_iter().enumerate() {
            for density in [30u64, 50, 70] {
                let labels: Vec<u16> = (0..shape.iter().product::<usize>())
                    .map(|_| {
                        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        u16::from((state >> 33) % 100 < density) * (1 + (state >> 40) as u16 % 3)
                    })
                    .collect();
                let (mut fast, mut slow) = (labels.clone(), labels.clone());
                keep_largest_component(&mut fast, shape);
                reference_largest(&mut slow, shape);
                assert_eq!(fast, slow, "largest component, case {case}, density {density}");
                let (mut fast, mut slow) = (labels.clone(), labels);
                fill_holes(&mut fast, shape, 9);
                reference_fill(&mut slow, shape, 9);
                assert_eq!(fast, slow, "filled holes, case {case}, density {density}");
            }
        }
    }
}
