//! Surfaces from label maps: one closed triangle mesh per label in world millimetres (RAS, as the
//! scan's affine gives them), optionally smoothed and decimated, enclosing the label's voxel
//! volume (so a surface's volume is the mL of the label table), with vertex normals; written as
//! STL, OBJ, PLY or glTF binary by [`export`]. The same code runs in the page's worker and in
//! `medseg mesh`.

pub mod decimate;
pub mod export;
pub mod extract;
pub mod smooth;
pub mod surface;
pub mod volume;

pub use surface::{face_normal, LabelSurface, Mesh};

use crate::labels::LabelTable;
use crate::volume::resample::Grid;

/// How surfaces are made.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MeshOptions {
    /// Only these label values (all present labels when empty).
    pub labels: Vec<u16>,
    /// Taubin smoothing iterations (0: none; volume is kept, see [`smooth::taubin`]).
    pub smooth: usize,
    /// Decimate each label's mesh to at most this many triangles (`None`: keep all).
    pub target_triangles: Option<usize>,
}

/// The surfaces of the labels of `values` on `grid`, in label order; `progress(done, total)` after
/// each label.
pub fn label_surfaces(
    values: &[u16],
    grid: &Grid,
    table: &LabelTable,
    options: &MeshOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Vec<LabelSurface> {
    let extents = extract::label_extents(values, grid.shape);
    let voxel_mm3 = grid.voxel_volume_mm3();
    let voxel_size = grid.spacing_mm().into_iter().fold(0.0, f64::max);
    let mut wanted: Vec<u16> =
        extents.keys().copied().filter(|v| options.labels.is_empty() || options.labels.contains(v)).collect();
    wanted.sort_unstable();
    let total = wanted.len();
    wanted
        .into_iter()
        .enumerate()
        .map(|(done, value)| {
            let extent = extents[&value];
            let mut mesh = extract::surface(values, grid, value, extent.bounds);
            smooth::taubin(&mut mesh, options.smooth);
            if let Some(target) = options.target_triangles {
                decimate::to_budget(&mut mesh, target);
            }
            volume::match_volume(&mut mesh, extent.voxels as f64 * voxel_mm3, voxel_size);
            progress(done + 1, total);
            let known = table.labels.iter().find(|l| l.value == value);
            LabelSurface {
                value,
                name: known.map_or_else(|| format!("label {value}"), |l| l.name.clone()),
                rgb: known.map_or_else(|| fallback_colour(value), |l| l.rgb),
                mesh,
            }
        })
        .collect()
}

/// A distinct colour for a label the table does not name (golden-angle hues).
fn fallback_colour(value: u16) -> [u8; 3] {
    let hue = (f64::from(value) * 137.507_764) % 360.0;
    let x = 1.0 - ((hue / 60.0) % 2.0 - 1.0).abs();
    let (r, g, b) = match (hue / 60.0) as u32 {
        0 => (1.0, x, 0.0),
        1 => (x, 1.0, 0.0),
        2 => (0.0, 1.0, x),
        3 => (0.0, x, 1.0),
        4 => (x, 0.0, 1.0),
        _ => (1.0, 0.0, x),
    };
    [r, g, b].map(|c: f64| (64.0 + 191.0 * c) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(shape: [usize; 3], spacing: [f64; 3]) -> Grid {
        let mut affine = [[0.0; 4]; 4];
        for axis in 0..3 {
            affine[axis][axis] = spacing[axis];
        }
        affine[3][3] = 1.0;
        Grid { shape, affine }
    }

    /// The extracted surface, before its volume is matched, already encloses nearly the voxels'.
    #[test]
    fn raw_surfaces_are_closed_and_near_the_voxel_volume() {
        let shape = [40, 40, 40];
        let ball: Vec<u16> = (0..64000)
            .map(|i| {
                let p = [i % 40, (i / 40) % 40, i / 1600].map(|c| c as f64 - 19.5);
                u16::from(p.iter().map(|c| c * c).sum::<f64>() <= 14.0 * 14.0)
            })
            .collect();
        let cube: Vec<u16> = (0..64000)
            .map(|i| u16::from([i % 40, (i / 40) % 40, i / 1600].iter().all(|&c| (10..30).contains(&c))))
            .collect();
        for (values, name) in [(ball, "ball"), (cube, "cube")] {
            let g = grid(shape, [0.8, 1.0, 2.5]);
            let extent = extract::label_extents(&values, shape)[&1];
            let mesh = extract::surface(&values, &g, 1, extent.bounds);
            let voxels = extent.voxels as f64 * 0.8 * 2.5;
            let raw = mesh.enclosed_volume_mm3();
            assert!((raw - voxels).abs() < 0.02 * voxels, "{name}: {raw} mm³ vs {voxels} mm³");
            // Closed: every edge is shared by exactly two triangles, in opposite directions.
            let mut edges = std::collections::HashMap::new();
            for t in &mesh.triangles {
                for k in 0..3 {
                    *edges.entry((t[k], t[(k + 1) % 3])).or_insert(0) += 1;
                }
            }
            assert!(edges.iter().all(|(&(a, b), &n)| n == 1 && edges.get(&(b, a)) == Some(&1)), "{name} is not closed");
        }
    }

    #[test]
    fn decimation_keeps_a_closed_surface_and_matching_keeps_the_volume() {
        let shape = [30, 30, 30];
        let ball: Vec<u16> = (0..27000)
            .map(|i| {
                u16::from(
                    [i % 30, (i / 30) % 30, i / 900].iter().map(|&c| (c as f64 - 14.5).powi(2)).sum::<f64>() <= 100.0,
                )
            })
            .collect();
        let table = LabelTable::default();
        let options = MeshOptions { labels: vec![], smooth: 10, target_triangles: Some(500) };
        let surfaces = label_surfaces(&ball, &grid(shape, [1.0; 3]), &table, &options, &mut |_, _| {});
        let mesh = &surfaces[0].mesh;
        assert!(mesh.triangles.len() <= 500, "{}", mesh.triangles.len());
        let voxels = ball.iter().filter(|&&v| v == 1).count() as f64;
        assert!((mesh.enclosed_volume_mm3() - voxels).abs() < 1e-3 * voxels);
        assert_eq!(surfaces[0].name, "label 1");
    }
}
