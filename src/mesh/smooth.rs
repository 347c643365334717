//! Taubin smoothing (λ|μ): a shrinking Laplacian step then an inflating one, so surfaces lose
//! their voxel steps without the shrinkage of plain Laplacian smoothing.

use super::surface::Mesh;

/// Shrinking step.
const LAMBDA: f32 = 0.5;
/// Inflating step (|μ| slightly above λ).
const MU: f32 = -0.53;

/// Applies `iterations` λ|μ pairs, each vertex moving toward (then away from) the mean of its
/// neighbours.
pub fn taubin(mesh: &mut Mesh, iterations: usize) {
    if iterations == 0 || mesh.triangles.is_empty() {
        return;
    }
    let neighbours = neighbours(mesh);
    let mut moved = mesh.positions.clone();
    for _ in 0..iterations {
        for factor in [LAMBDA, MU] {
            for (v, around) in neighbours.iter().enumerate() {
                let p = mesh.positions[v];
                if around.is_empty() {
                    moved[v] = p;
                    continue;
                }
                let mut mean = [0f32; 3];
                for &n in around {
                    for (m, c) in mean.iter_mut().zip(mesh.positions[n as usize]) {
                        *m += c;
                    }
                }
                let count = around.len() as f32;
                moved[v] = std::array::from_fn(|axis| p[axis] + factor * (mean[axis] / count - p[axis]));
            }
            std::mem::swap(&mut mesh.positions, &mut moved);
        }
    }
}

/// Each vertex's distinct neighbours along triangle edges.
pub fn neighbours(mesh: &Mesh) -> Vec<Vec<u32>> {
    let mut around = vec![Vec::new(); mesh.positions.len()];
    for t in &mesh.triangles {
        for k in 0..3 {
            let (a, b) = (t[k], t[(k + 1) % 3]);
            around[a as usize].push(b);
            around[b as usize].push(a);
        }
    }
    for list in &mut around {
        list.sort_unstable();
        list.dedup();
    }
    around
}
