//! `medseg mesh` as a user runs it, every file read back by trimesh (PyPI, `tests/check_mesh.py`):
//! closed, wound outward, enclosing the label's voxel volume, inside the label's world extent, on
//! anisotropic, oblique and left-handed grids; per-label nodes with names and colours in `.glb` (all
//! 61 labels of example_ct's TotalSegmentator map).

use std::path::Path;
use std::process::Command;

use medseg::volume::HeaderGeometry;

use super::cli::{medseg, stdout, TempDir};

/// What trimesh says of a mesh file.
fn trimesh(path: &Path) -> serde_json::Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/check_mesh.py");
    let out = Command::new("python3").arg(script).arg(path).output().expect("python3 runs");
    assert!(out.status.success(), "check_mesh.py {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A geometry with voxel axes `columns` (mm per voxel step, in world RAS) and origin `origin`.
fn geometry(columns: [[f32; 3]; 3], origin: [f32; 3]) -> HeaderGeometry {
    let spacing = columns.map(|c| (c[0] * c[0] + c[1] * c[1] + c[2] * c[2]).sqrt());
    HeaderGeometry {
        pixdim: [1.0, spacing[0], spacing[1], spacing[2], 0.0, 0.0, 0.0, 0.0],
        qform_code: 0,
        sform_code: 1,
        quatern: [0.0; 3],
        qoffset: [0.0; 3],
        srow: std::array::from_fn(|r| [columns[0][r], columns[1][r], columns[2][r], origin[r]]),
        xyzt_units: 2,
    }
}

/// A label map of `shape` with label 1 where `inside(world mm)` holds.
struct Case {
    shape: [usize; 3],
    geometry: HeaderGeometry,
    values: Vec<u16>,
}

impl Case {
    fn new(shape: [usize; 3], geometry: HeaderGeometry, inside: impl Fn([f64; 3]) -> bool) -> Case {
        let values = (0..shape.iter().product::<usize>())
            .map(|i| {
                let ijk = [i % shape[0], (i / shape[0]) % shape[1], i / (shape[0] * shape[1])];
                u16::from(inside(self_world(&geometry, ijk)))
            })
            .collect();
        Case { shape, geometry, values }
    }

    /// Voxel volume × count (mm³) and the world box of the label's voxel centres.
    fn expected(&self) -> (f64, [[f64; 2]; 3], f64) {
        let s = &self.geometry.srow;
        let columns: [[f64; 3]; 3] = std::array::from_fn(|c| std::array::from_fn(|r| f64::from(s[r][c])));
        let det = columns[0][0] * (columns[1][1] * columns[2][2] - columns[2][1] * columns[1][2])
            - columns[1][0] * (columns[0][1] * columns[2][2] - columns[2][1] * columns[0][2])
            + columns[2][0] * (columns[0][1] * columns[1][2] - columns[1][1] * columns[0][2]);
        let mut bounds = [[f64::INFINITY, f64::NEG_INFINITY]; 3];
        let mut count = 0;
        for (i, &v) in self.values.iter().enumerate() {
            if v == 0 {
                continue;
            }
            count += 1;
            let p = self_world(
                &self.geometry,
                [i % self.shape[0], (i / self.shape[0]) % self.shape[1], i / (self.shape[0] * self.shape[1])],
            );
            for axis in 0..3 {
                bounds[axis][0] = bounds[axis][0].min(p[axis]);
                bounds[axis][1] = bounds[axis][1].max(p[axis]);
            }
        }
        let diagonal = columns.iter().map(|c| c.iter().map(|v| v.abs()).sum::<f64>()).fold(0.0, f64::max);
        (count as f64 * det.abs(), bounds, diagonal)
    }

    fn write(&self, dir: &Path, name: &str) -> String {
        let bytes = medseg::volume::write_label_map(
            &self.values,
            self.shape,
            &self.geometry,
            medseg::volume::NiftiVersion::Auto,
        );
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_string()
    }
}

fn self_world(g: &HeaderGeometry, ijk: [usize; 3]) -> [f64; 3] {
    std::array::from_fn(|r| {
        (0..3).map(|c| f64::from(g.srow[r][c]) * ijk[c] as f64).sum::<f64>() + f64::from(g.srow[r][3])
    })
}

/// Every format of `case`'s surface is closed, outward, of the label's volume, inside its extent.
fn check_all_formats(case: &Case, name: &str) {
    let dir = TempDir::new(&format!("mesh-{name}"));
    let labels = case.write(&dir.0, "labels.nii.gz");
    let (volume, bounds, voxel) = case.expected();
    for ext in ["stl", "obj", "ply", "glb"] {
        let out = dir.0.join(format!("surface.{ext}"));
        let o = medseg(&["mesh", &labels, "-o", out.to_str().unwrap()], None);
        assert!(o.status.success(), "{name} {ext}: {o:?}");
        let report = trimesh(&out);
        let mesh = if ext == "glb" { report["nodes"][0].clone() } else { report };
        assert_eq!(mesh["watertight"], true, "{name}.{ext} is not watertight");
        assert_eq!(mesh["winding_consistent"], true, "{name}.{ext}");
        let got = mesh["volume"].as_f64().unwrap();
        assert!((got - volume).abs() <= 0.02 * volume, "{name}.{ext}: volume {got:.1} mm³, label {volume:.1} mm³");
        for axis in 0..3 {
            let (lo, hi) = (mesh["bounds"][0][axis].as_f64().unwrap(), mesh["bounds"][1][axis].as_f64().unwrap());
            assert!(
                lo >= bounds[axis][0] - voxel
                    && lo <= bounds[axis][0]
                    && hi <= bounds[axis][1] + voxel
                    && hi >= bounds[axis][1],
                "{name}.{ext}: axis {axis} spans {lo:.2}..{hi:.2}, the label's centres {:?} (voxel {voxel:.2})",
                bounds[axis]
            );
        }
    }
}

#[test]
fn a_sphere_on_an_anisotropic_grid() {
    let g = geometry([[0.8, 0.0, 0.0], [0.0, 0.8, 0.0], [0.0, 0.0, 3.0]], [-30.0, -30.0, -36.0]);
    let case = Case::new([76, 76, 25], g, |p| p[0] * p[0] + p[1] * p[1] + p[2] * p[2] <= 20.0 * 20.0);
    check_all_formats(&case, "anisotropic-sphere");
}

#[test]
fn a_sphere_on_an_oblique_grid() {
    // 1.2 × 1 × 2 mm voxels, rotated 30° about z and 20° about x.
    let (c, s) = (30f32.to_radians().cos(), 30f32.to_radians().sin());
    let (cx, sx) = (20f32.to_radians().cos(), 20f32.to_radians().sin());
    let rotate = |v: [f32; 3]| {
        let v = [c * v[0] - s * v[1], s * v[0] + c * v[1], v[2]];
        [v[0], cx * v[1] - sx * v[2], sx * v[1] + cx * v[2]]
    };
    let g = geometry([rotate([1.2, 0.0, 0.0]), rotate([0.0, 1.0, 0.0]), rotate([0.0, 0.0, 2.0])], [5.0, -3.0, 2.0]);
    let centre = self_world(&g, [20, 24, 12]);
    let case = Case::new([40, 48, 24], g, |p| (0..3).map(|i| (p[i] - centre[i]).powi(2)).sum::<f64>() <= 15.0 * 15.0);
    check_all_formats(&case, "oblique-sphere");
}

#[test]
fn a_cube_on_a_left_handed_grid() {
    // x runs right to left (radiological storage): the affine's determinant is negative.
    let g = geometry([[-1.5, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], [30.0, -10.0, -10.0]);
    let case = Case::new([40, 20, 20], g, |p| p[0].abs() <= 12.0 && (p[1] - 0.0).abs() <= 6.0 && p[2].abs() <= 6.0);
    check_all_formats(&case, "left-handed-cube");
}

#[test]
fn every_organ_of_example_seg_in_one_glb_with_names_colours_and_its_ml() {
    // TotalSegmentator's 61-label map of example_ct.
    let Some(path) = crate::common::shared_file("data/ct/example_seg_fast_force_split.nii.gz") else { return };
    let dir = TempDir::new("mesh-example-seg");
    // A sidecar naming two labels; the others get "label N".
    let labels = dir.0.join("seg.nii.gz");
    std::fs::copy(&path, &labels).unwrap();
    std::fs::write(
        dir.0.join("seg.json"),
        r#"{"labels":[{"value":1,"name":"spleen","rgb":[157,108,162]},{"value":5,"name":"liver","rgb":[221,130,101]}]}"#,
    )
    .unwrap();
    let out = dir.0.join("organs.glb");
    let o = medseg(&["mesh", labels.to_str().unwrap(), "--smooth", "5", "-o", out.to_str().unwrap()], None);
    assert!(o.status.success(), "{o:?}");
    let volumes = medseg(&["eval", labels.to_str().unwrap(), labels.to_str().unwrap()], None);
    let table: Vec<(String, f64)> = stdout(&volumes)
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 5).then(|| (f[0].to_string(), f[3].parse().unwrap()))
        })
        .collect();
    let nodes = trimesh(&out)["nodes"].as_array().unwrap().clone();
    assert_eq!(table.len(), 61, "example_ct's label map has 61 labels");
    assert_eq!(nodes.len(), table.len(), "one node per label");
    for (value, ml) in &table {
        let name = match value.as_str() {
            "1" => "spleen".to_string(),
            "5" => "liver".to_string(),
            v => format!("label {v}"),
        };
        let node = nodes.iter().find(|n| n["name"] == name).unwrap_or_else(|| panic!("no node {name}"));
        assert_eq!(node["watertight"], true, "{name}");
        let got = node["volume"].as_f64().unwrap() / 1000.0;
        assert!((got - ml).abs() <= 0.05 * ml + 0.005, "{name}: mesh {got:.3} mL, label {ml} mL");
    }
    // glTF colour factors are linear: the sidecar's sRGB [221, 130, 101] is stored as linear light.
    let liver = nodes.iter().find(|n| n["name"] == "liver").unwrap();
    let linear = |c: f64| if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) };
    for (got, srgb) in liver["rgba"].as_array().unwrap().iter().zip([221.0, 130.0, 101.0]) {
        let expected = linear(srgb / 255.0) * 255.0;
        assert!((got.as_f64().unwrap() - expected).abs() <= 1.0, "{} vs {expected}", liver["rgba"]);
    }
}
