//! The surface of one label as triangles: marching tetrahedra over the voxel centres (each cell
//! cut into the six tetrahedra around its main diagonal, so neighbouring cells cut their shared
//! face alike and the surface is closed and manifold, with no ambiguous cases), at the level
//! halfway between a voxel inside and one outside — on the faces of the voxels.

use std::collections::HashMap;

use super::surface::Mesh;
use crate::volume::resample::Grid;

/// The corner offsets of the six tetrahedra of a cell: each is the path 0 → eₐ → eₐ+e_b → 1 1 1
/// for one order (a, b, c) of the axes.
const TETRAHEDRA: [[[usize; 3]; 4]; 6] = {
    const ORDERS: [[usize; 3]; 6] = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
    let mut out = [[[0; 3]; 4]; 6];
    let mut t = 0;
    while t < 6 {
        let mut corner = [0usize; 3];
        let mut step = 0;
        while step < 3 {
            corner[ORDERS[t][step]] = 1;
            out[t][step + 1] = corner;
            step += 1;
        }
        t += 1;
    }
    out
};

/// Where a label occurs: its voxel box (inclusive) and how many voxels it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    /// Smallest and largest voxel index along each axis.
    pub bounds: [[usize; 2]; 3],
    /// Voxels with the label.
    pub voxels: u64,
}

/// The extent of every label value present (0, the background, excluded).
pub fn label_extents(values: &[u16], shape: [usize; 3]) -> HashMap<u16, Extent> {
    let mut extents: HashMap<u16, Extent> = HashMap::new();
    let [nx, ny, _] = shape;
    for (i, &v) in values.iter().enumerate() {
        if v == 0 {
            continue;
        }
        let p = [i % nx, (i / nx) % ny, i / (nx * ny)];
        let e = extents.entry(v).or_insert(Extent { bounds: p.map(|c| [c, c]), voxels: 0 });
        e.voxels += 1;
        for (bound, c) in e.bounds.iter_mut().zip(p) {
            *bound = [bound[0].min(c), bound[1].max(c)];
        }
    }
    extents
}

/// The closed surface of the voxels equal to `label` inside `bounds` (from [`label_extents`]), in
/// world millimetres through `grid`'s affine, triangles wound counter-clockwise seen from outside
/// (also for left-handed affines).
pub fn surface(values: &[u16], grid: &Grid, label: u16, bounds: [[usize; 2]; 3]) -> Mesh {
    let [nx, ny, nz] = grid.shape;
    let inside = |p: [i64; 3]| -> bool {
        p.iter().all(|&c| c >= 0)
            && (p[0] as usize) < nx
            && (p[1] as usize) < ny
            && (p[2] as usize) < nz
            && values[p[0] as usize + nx * (p[1] as usize + ny * p[2] as usize)] == label
    };
    // A grid point's key (with a margin of one outside the grid).
    let key = |p: [i64; 3]| -> u64 {
        ((p[2] + 1) as u64 * (ny as u64 + 2) + (p[1] + 1) as u64) * (nx as u64 + 2) + (p[0] + 1) as u64
    };
    let mut mesh = Mesh::default();
    let mut vertex_of: HashMap<(u64, u64), u32> = HashMap::new();
    let mut crossing = |a: [i64; 3], b: [i64; 3], mesh: &mut Mesh| -> u32 {
        let (ka, kb) = (key(a), key(b));
        *vertex_of.entry((ka.min(kb), ka.max(kb))).or_insert_with(|| {
            let mid: [f64; 3] = std::array::from_fn(|i| (a[i] + b[i]) as f64 / 2.0);
            mesh.positions.push(world(grid, mid));
            (mesh.positions.len() - 1) as u32
        })
    };
    let lo: [i64; 3] = std::array::from_fn(|axis| bounds[axis][0] as i64 - 1);
    let hi: [i64; 3] = std::array::from_fn(|axis| bounds[axis][1] as i64);
    for z in lo[2]..=hi[2] {
        for y in lo[1]..=hi[1] {
            for x in lo[0]..=hi[0] {
                let corner = |o: [usize; 3]| [x + o[0] as i64, y + o[1] as i64, z + o[2] as i64];
                let cell: [bool; 8] = std::array::from_fn(|c| inside(corner([c & 1, (c >> 1) & 1, c >> 2])));
                if cell.iter().all(|&v| v) || cell.iter().all(|&v| !v) {
                    continue;
                }
                for tet in &TETRAHEDRA {
                    let points = tet.map(corner);
                    let states = tet.map(|o| cell[o[0] | o[1] << 1 | o[2] << 2]);
                    let (ins, outs): (Vec<usize>, Vec<usize>) = (0..4).partition(|&i| states[i]);
                    if ins.is_empty() || outs.is_empty() {
                        continue;
                    }
                    // Away from the inside: the outward direction, to wind each triangle by.
                    let centre = |set: &[usize]| -> [f64; 3] {
                        std::array::from_fn(|i| {
                            set.iter().map(|&k| points[k][i] as f64).sum::<f64>() / set.len() as f64
                        })
                    };
                    let (ci, co) = (centre(&ins), centre(&outs));
                    let outward = [co[0] - ci[0], co[1] - ci[1], co[2] - ci[2]];
                    let mut edge = |i: usize, o: usize| crossing(points[i], points[o], &mut mesh);
                    let triangles: Vec<[u32; 3]> = match (ins.as_slice(), outs.as_slice()) {
                        (&[i], &[a, b, c]) => vec![[edge(i, a), edge(i, b), edge(i, c)]],
                        (&[a, b, c], &[o]) => vec![[edge(a, o), edge(b, o), edge(c, o)]],
                        (&[p, q], &[r, s]) => {
                            let (pr, ps, qs, qr) = (edge(p, r), edge(p, s), edge(q, s), edge(q, r));
                            vec![[pr, ps, qs], [pr, qs, qr]]
                        }
                        _ => unreachable!("a tetrahedron with both states has 1+3, 2+2 or 3+1 corners"),
                    };
                    for t in triangles {
                        mesh.triangles.push(wound(&mesh.positions, t, outward, grid));
                    }
                }
            }
        }
    }
    mesh
}

/// Voxel indices (fractional) to world millimetres.
fn world(grid: &Grid, ijk: [f64; 3]) -> [f32; 3] {
    std::array::from_fn(|r| ((0..3).map(|c| grid.affine[r][c] * ijk[c]).sum::<f64>() + grid.affine[r][3]) as f32)
}

/// `t` ordered so that its normal points along `outward` (a direction in voxel indices).
fn wound(positions: &[[f32; 3]], t: [u32; 3], outward: [f64; 3], grid: &Grid) -> [u32; 3] {
    // The outward direction in world space: the affine's linear part applied to it.
    let out: [f64; 3] = std::array::from_fn(|r| (0..3).map(|c| grid.affine[r][c] * outward[c]).sum());
    let [a, b, c] = t.map(|v| positions[v as usize].map(f64::from));
    let (u, v) = ([b[0] - a[0], b[1] - a[1], b[2] - a[2]], [c[0] - a[0], c[1] - a[1], c[2] - a[2]]);
    let normal = [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]];
    if normal[0] * out[0] + normal[1] * out[1] + normal[2] * out[2] >= 0.0 {
        t
    } else {
        [t[0], t[2], t[1]]
    }
}
