//! Surfaces that enclose their label's volume. A surface through the voxel faces cuts the
//! corners of the voxel staircase (a single voxel becomes an octahedron-like solid of a sixth of
//! its volume; a small vertebra loses about 8 %), and smoothing or decimation moves it further.
//! The whole surface is offset along its vertex normals by the one distance that makes it enclose
//! exactly the label's voxel volume: for organs a few hundredths of a voxel.

use super::surface::{face_normal, Mesh};

/// Offsets `mesh` along its vertex normals so that it encloses `target_mm3`, by at most
/// `max_offset_mm` (one voxel) either way.
pub fn match_volume(mesh: &mut Mesh, target_mm3: f64, max_offset_mm: f64) {
    if mesh.triangles.is_empty() || target_mm3.is_nan() || target_mm3 <= 0.0 {
        return;
    }
    let normals = mesh.vertex_normals();
    let start = mesh.positions.clone();
    let volume_at = |offset: f64, mesh: &mut Mesh| {
        for ((p, s), n) in mesh.positions.iter_mut().zip(&start).zip(&normals) {
            *p = std::array::from_fn(|i| (f64::from(s[i]) + offset * f64::from(n[i])) as f32);
        }
        mesh.enclosed_volume_mm3()
    };
    // Secant steps on V(offset) − target, from offset 0 and a step of the area's first guess.
    let (mut a, mut va) = (0.0, mesh.enclosed_volume_mm3());
    let area: f64 = mesh.triangles.iter().map(|t| norm(face_normal(&mesh.positions, *t)) / 2.0).sum();
    let mut b = ((target_mm3 - va) / area.max(f64::MIN_POSITIVE)).clamp(-max_offset_mm, max_offset_mm);
    let mut vb = volume_at(b, mesh);
    for _ in 0..8 {
        if (vb - target_mm3).abs() <= 1e-6 * target_mm3 || vb == va {
            break;
        }
        let next = (b - (vb - target_mm3) * (b - a) / (vb - va)).clamp(-max_offset_mm, max_offset_mm);
        (a, va) = (b, vb);
        b = next;
        vb = volume_at(b, mesh);
    }
}

fn norm(v: [f64; 3]) -> f64 {
    (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt()
}
