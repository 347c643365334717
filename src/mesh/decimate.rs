//! Decimation to a triangle budget by quadric edge collapse (Garland & Heckbert): the edge whose
//! collapse moves the surface least goes first. A collapse that would pinch the surface (the two
//! ends share more neighbours than the two triangles of their edge) or flip a triangle is skipped,
//! so a closed manifold mesh stays closed, manifold and outward.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::surface::{face_normal, Mesh};

/// A symmetric 4×4 quadric: the sum of squared distances to a set of planes.
#[derive(Clone, Copy, Default)]
struct Quadric([f64; 10]);

impl Quadric {
    fn of_plane(n: [f64; 3], d: f64) -> Quadric {
        let [a, b, c] = n;
        Quadric([a * a, a * b, a * c, a * d, b * b, b * c, b * d, c * c, c * d, d * d])
    }
    fn add(&mut self, other: &Quadric) {
        for (x, y) in self.0.iter_mut().zip(other.0) {
            *x += y;
        }
    }
    fn cost(&self, p: [f64; 3]) -> f64 {
        let q = &self.0;
        let [x, y, z] = p;
        q[0] * x * x
            + 2.0 * q[1] * x * y
            + 2.0 * q[2] * x * z
            + 2.0 * q[3] * x
            + q[4] * y * y
            + 2.0 * q[5] * y * z
            + 2.0 * q[6] * y
            + q[7] * z * z
            + 2.0 * q[8] * z
            + q[9]
    }
}

/// A candidate collapse in the queue, cheapest first; stale once either end has changed.
struct Candidate {
    cost: f64,
    keep: u32,
    remove: u32,
    stamps: (u32, u32),
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cost.total_cmp(&other.cost) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        other.cost.total_cmp(&self.cost)
    }
}

/// Collapses edges until at most `target` triangles remain (or no collapse is safe).
pub fn to_budget(mesh: &mut Mesh, target: usize) {
    if mesh.triangles.len() <= target {
        return;
    }
    let mut state = State::new(mesh);
    let mut queue = BinaryHeap::new();
    for t in 0..mesh.triangles.len() {
        for k in 0..3 {
            let (a, b) = (mesh.triangles[t][k], mesh.triangles[t][(k + 1) % 3]);
            if a < b {
                queue.push(state.candidate(a, b));
            }
        }
    }
    let mut alive = mesh.triangles.len();
    while alive > target {
        let Some(c) = queue.pop() else { break };
        if state.removed[c.keep as usize]
            || state.removed[c.remove as usize]
            || (state.stamp[c.keep as usize], state.stamp[c.remove as usize]) != c.stamps
        {
            continue;
        }
        let Some(removed) = state.collapse(c.keep, c.remove) else { continue };
        alive -= removed;
        for n in state.neighbours(c.keep) {
            queue.push(state.candidate(c.keep, n));
        }
    }
    state.write_into(mesh);
}

/// The mesh being decimated: triangles (dead ones marked), each vertex's triangles and quadric.
struct State {
    positions: Vec<[f32; 3]>,
    triangles: Vec<[u32; 3]>,
    dead: Vec<bool>,
    around: Vec<Vec<u32>>,
    quadrics: Vec<Quadric>,
    removed: Vec<bool>,
    stamp: Vec<u32>,
}

impl State {
    fn new(mesh: &Mesh) -> State {
        let n = mesh.positions.len();
        let mut around = vec![Vec::new(); n];
        let mut quadrics = vec![Quadric::default(); n];
        for (t, tri) in mesh.triangles.iter().enumerate() {
            let normal = face_normal(&mesh.positions, *tri);
            let length = (normal[0] * normal[0] + normal[1] * normal[1] + normal[2] * normal[2]).sqrt();
            let plane = if length > 0.0 {
                let n = normal.map(|v| v / length);
                let p = mesh.positions[tri[0] as usize].map(f64::from);
                Quadric::of_plane(n, -(n[0] * p[0] + n[1] * p[1] + n[2] * p[2]))
            } else {
                Quadric::default()
            };
            for &v in tri {
                around[v as usize].push(t as u32);
                quadrics[v as usize].add(&plane);
            }
        }
        State {
            positions: mesh.positions.clone(),
            triangles: mesh.triangles.clone(),
            dead: vec![false; mesh.triangles.len()],
            around,
            quadrics,
            removed: vec![false; n],
            stamp: vec![0; n],
        }
    }

    /// The cheapest of the two ends and the midpoint as the place of the merged vertex.
    fn best_place(&self, a: u32, b: u32) -> ([f32; 3], f64) {
        let mut q = self.quadrics[a as usize];
        q.add(&self.quadrics[b as usize]);
        let (pa, pb) = (self.positions[a as usize], self.positions[b as usize]);
        let mid = std::array::from_fn(|i| (pa[i] + pb[i]) / 2.0);
        [pa, pb, mid]
            .into_iter()
            .map(|p| (p, q.cost(p.map(f64::from))))
            .min_by(|x, y| x.1.total_cmp(&y.1))
            .expect("three candidates")
    }

    fn candidate(&self, a: u32, b: u32) -> Candidate {
        let (_, cost) = self.best_place(a, b);
        Candidate { cost, keep: a, remove: b, stamps: (self.stamp[a as usize], self.stamp[b as usize]) }
    }

    fn neighbours(&self, v: u32) -> Vec<u32> {
        let mut out: Vec<u32> =
            self.around[v as usize].iter().flat_map(|&t| self.triangles[t as usize]).filter(|&w| w != v).collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Merges `remove` into `keep` when that is safe; returns how many triangles died.
    fn collapse(&mut self, keep: u32, remove: u32) -> Option<usize> {
        let (na, nb) = (self.neighbours(keep), self.neighbours(remove));
        let shared = na.iter().filter(|v| nb.binary_search(v).is_ok()).count();
        let on_edge: Vec<u32> = self.around[keep as usize]
            .iter()
            .copied()
            .filter(|&t| self.triangles[t as usize].contains(&remove))
            .collect();
        // Link condition of a closed manifold; and no collapse of a tetrahedron-like pocket.
        if on_edge.len() != 2 || shared != 2 || na.len() <= 3 || nb.len() <= 3 {
            return None;
        }
        let (place, _) = self.best_place(keep, remove);
        for &v in &[keep, remove] {
            for &t in &self.around[v as usize] {
                let tri = self.triangles[t as usize];
                if tri.contains(&keep) && tri.contains(&remove) {
                    continue;
                }
                let before = face_normal(&self.positions, tri);
                let mut moved: Vec<[f32; 3]> = tri.iter().map(|&w| self.positions[w as usize]).collect();
                for (k, &w) in tri.iter().enumerate() {
                    if w == keep || w == remove {
                        moved[k] = place;
                    }
                }
                let after = face_normal(&moved, [0, 1, 2]);
                if before[0] * after[0] + before[1] * after[1] + before[2] * after[2] <= 0.0 {
                    return None;
                }
            }
        }
        for &t in &on_edge {
            self.dead[t as usize] = true;
        }
        let moving: Vec<u32> = std::mem::take(&mut self.around[remove as usize]);
        for t in moving {
            if self.dead[t as usize] {
                continue;
            }
            for w in self.triangles[t as usize].iter_mut() {
                if *w == remove {
                    *w = keep;
                }
            }
            self.around[keep as usize].push(t);
        }
        let dead = &self.dead;
        self.around[keep as usize].retain(|&t| !dead[t as usize]);
        for &t in &on_edge {
            for w in self.triangles[t as usize] {
                if w != keep && w != remove {
                    self.around[w as usize].retain(|&x| x != t);
                }
            }
        }
        self.positions[keep as usize] = place;
        let q = self.quadrics[remove as usize];
        self.quadrics[keep as usize].add(&q);
        self.removed[remove as usize] = true;
        self.stamp[keep as usize] += 1;
        Some(on_edge.len())
    }

    /// The surviving triangles and the vertices they use, renumbered.
    fn write_into(self, mesh: &mut Mesh) {
        let mut index = vec![u32::MAX; self.positions.len()];
        let mut positions = Vec::new();
        let mut triangles = Vec::new();
        for (t, tri) in self.triangles.iter().enumerate() {
            if self.dead[t] {
                continue;
            }
            triangles.push(tri.map(|v| {
                if index[v as usize] == u32::MAX {
                    index[v as usize] = positions.len() as u32;
                    positions.push(self.positions[v as usize]);
                }
                index[v as usize]
            }));
        }
        *mesh = Mesh { positions, triangles };
    }
}
