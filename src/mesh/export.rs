//! Writing label surfaces: binary STL, OBJ (vertex colours), binary PLY (vertex colours) and glTF
//! binary (`.glb`: one node, mesh and material per label, with its name and colour). Coordinates
//! are RAS millimetres (the NIfTI world), or LPS (x and y negated, what 3D Slicer assumes for STL
//! and OBJ); negating two axes is a rotation, so triangles stay wound outward.

use std::fmt::Write as _;

use super::surface::{face_normal, LabelSurface, Mesh};

/// The file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Binary STL (no colours; all labels in one solid).
    Stl,
    /// Wavefront OBJ, one object per label, vertex colours.
    Obj,
    /// Binary little-endian PLY with vertex colours.
    Ply,
    /// glTF 2.0 binary.
    Glb,
}

impl Format {
    /// The format a file name's extension asks for.
    pub fn of_path(path: &str) -> Result<Format, String> {
        let lower = path.to_ascii_lowercase();
        [(".stl", Format::Stl), (".obj", Format::Obj), (".ply", Format::Ply), (".glb", Format::Glb)]
            .into_iter()
            .find(|(ext, _)| lower.ends_with(ext))
            .map(|(_, f)| f)
            .ok_or_else(|| format!("{path}: unknown mesh format; expected a name ending in .stl, .obj, .ply or .glb"))
    }
}

/// The world frame of the written coordinates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Frame {
    /// Right, anterior, superior (NIfTI's world).
    #[default]
    Ras,
    /// Left, posterior, superior (DICOM's world, 3D Slicer's for STL/OBJ).
    Lps,
}

impl Frame {
    fn apply(self, p: [f32; 3]) -> [f32; 3] {
        match self {
            Frame::Ras => p,
            Frame::Lps => [-p[0], -p[1], p[2]],
        }
    }
}

/// The bytes of a file holding `surfaces` in `format`.
pub fn write(surfaces: &[LabelSurface], format: Format, frame: Frame) -> Vec<u8> {
    match format {
        Format::Stl => stl(surfaces, frame),
        Format::Obj => obj(surfaces, frame).into_bytes(),
        Format::Ply => ply(surfaces, frame),
        Format::Glb => glb(surfaces, frame),
    }
}

fn stl(surfaces: &[LabelSurface], frame: Frame) -> Vec<u8> {
    let count: usize = surfaces.iter().map(|s| s.mesh.triangles.len()).sum();
    let mut out = Vec::with_capacity(84 + 50 * count);
    let mut header = [b' '; 80];
    let title = format!("medseg surfaces, {frame:?} mm");
    header[..title.len()].copy_from_slice(title.as_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&(count as u32).to_le_bytes());
    for s in surfaces {
        let positions: Vec<[f32; 3]> = s.mesh.positions.iter().map(|&p| frame.apply(p)).collect();
        for t in &s.mesh.triangles {
            let n = face_normal(&positions, *t);
            let length = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt().max(f64::MIN_POSITIVE);
            for v in n.map(|c| (c / length) as f32).iter().chain(t.iter().flat_map(|&v| &positions[v as usize])) {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&0u16.to_le_bytes());
        }
    }
    out
}

fn obj(surfaces: &[LabelSurface], frame: Frame) -> String {
    let mut out = format!("# medseg surfaces, {frame:?} millimetres; vertex colours after the coordinates\n");
    let mut base = 1usize;
    for s in surfaces {
        let [r, g, b] = s.rgb.map(|c| f32::from(c) / 255.0);
        let _ = writeln!(out, "o {}", s.name.replace(char::is_whitespace, "_"));
        for p in &s.mesh.positions {
            let [x, y, z] = frame.apply(*p);
            let _ = writeln!(out, "v {x} {y} {z} {r:.4} {g:.4} {b:.4}");
        }
        for n in s.mesh.vertex_normals() {
            let [x, y, z] = frame.apply(n);
            let _ = writeln!(out, "vn {x:.5} {y:.5} {z:.5}");
        }
        for t in &s.mesh.triangles {
            let [a, b, c] = t.map(|v| v as usize + base);
            let _ = writeln!(out, "f {a}//{a} {b}//{b} {c}//{c}");
        }
        base += s.mesh.positions.len();
    }
    out
}

fn ply(surfaces: &[LabelSurface], frame: Frame) -> Vec<u8> {
    let vertices: usize = surfaces.iter().map(|s| s.mesh.positions.len()).sum();
    let faces: usize = surfaces.iter().map(|s| s.mesh.triangles.len()).sum();
    let header = format!(
        "ply\nformat binary_little_endian 1.0\ncomment medseg surfaces, {frame:?} millimetres\n\
         element vertex {vertices}\nproperty float x\nproperty float y\nproperty float z\n\
         property float nx\nproperty float ny\nproperty float nz\n\
         property uchar red\nproperty uchar green\nproperty uchar blue\n\
         element face {faces}\nproperty list uchar uint vertex_indices\nend_header\n"
    );
    let mut out = header.into_bytes();
    for s in surfaces {
        for (p, n) in s.mesh.positions.iter().zip(s.mesh.vertex_normals()) {
            for v in frame.apply(*p).iter().chain(&frame.apply(n)) {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&s.rgb);
        }
    }
    let mut base = 0u32;
    for s in surfaces {
        for t in &s.mesh.triangles {
            out.push(3);
            for v in t {
                out.extend_from_slice(&(v + base).to_le_bytes());
            }
        }
        base += s.mesh.positions.len() as u32;
    }
    out
}

fn glb(surfaces: &[LabelSurface], frame: Frame) -> Vec<u8> {
    let mut bin: Vec<u8> = Vec::new();
    let (mut views, mut accessors, mut meshes, mut materials, mut nodes) = (vec![], vec![], vec![], vec![], vec![]);
    for s in surfaces.iter().filter(|s| !s.mesh.triangles.is_empty()) {
        let Mesh { positions, triangles } = &s.mesh;
        let positions: Vec<[f32; 3]> = positions.iter().map(|&p| frame.apply(p)).collect();
        let normals: Vec<[f32; 3]> = s.mesh.vertex_normals().into_iter().map(|n| frame.apply(n)).collect();
        let bounds = Mesh { positions: positions.clone(), triangles: vec![] }.bounds().expect("a mesh with triangles");
        let mut view = |bytes: Vec<u8>, target: u32| {
            views.push(
                serde_json::json!({"buffer": 0, "byteOffset": bin.len(), "byteLength": bytes.len(), "target": target}),
            );
            bin.extend_from_slice(&bytes);
            while !bin.len().is_multiple_of(4) {
                bin.push(0);
            }
            views.len() - 1
        };
        let floats = |v: &[[f32; 3]]| v.iter().flatten().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let position_view = view(floats(&positions), 34962);
        let normal_view = view(floats(&normals), 34962);
        let index_view = view(triangles.iter().flatten().flat_map(|i| i.to_le_bytes()).collect(), 34963);
        let first = accessors.len();
        accessors.push(serde_json::json!({"bufferView": position_view, "componentType": 5126, "count": positions.len(), "type": "VEC3",
            "min": bounds.map(|b| b[0]), "max": bounds.map(|b| b[1])}));
        accessors.push(serde_json::json!({"bufferView": normal_view, "componentType": 5126, "count": normals.len(), "type": "VEC3"}));
        accessors.push(serde_json::json!({"bufferView": index_view, "componentType": 5125, "count": triangles.len() * 3, "type": "SCALAR"}));
        let [r, g, b] = s.rgb.map(|c| srgb_to_linear(f64::from(c) / 255.0));
        materials.push(serde_json::json!({"name": s.name, "pbrMetallicRoughness": {"baseColorFactor": [r, g, b, 1.0],
            "metallicFactor": 0.0, "roughnessFactor": 0.8}}));
        meshes.push(
            serde_json::json!({"name": s.name, "primitives": [{"attributes": {"POSITION": first, "NORMAL": first + 1},
            "indices": first + 2, "material": materials.len() - 1}]}),
        );
        nodes.push(
            serde_json::json!({"name": s.name, "mesh": meshes.len() - 1, "extras": {"label": s.value, "rgb": s.rgb}}),
        );
    }
    let json = serde_json::json!({
        "asset": {"version": "2.0", "generator": "medseg"},
        "extras": {"frame": format!("{frame:?}"), "units": "millimetres"},
        "scene": 0,
        "scenes": [{"nodes": (0..nodes.len()).collect::<Vec<_>>()}],
        "nodes": nodes, "meshes": meshes, "materials": materials, "accessors": accessors, "bufferViews": views,
        "buffers": [{"byteLength": bin.len()}],
    });
    let mut json = json.to_string().into_bytes();
    while !json.len().is_multiple_of(4) {
        json.push(b' ');
    }
    let total = 12 + 8 + json.len() + 8 + bin.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"glTF");
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(b"JSON");
    out.extend_from_slice(&json);
    out.extend_from_slice(&(bin.len() as u32).to_le_bytes());
    out.extend_from_slice(b"BIN\0");
    out.extend_from_slice(&bin);
    out
}

/// glTF colour factors are linear; label colours are sRGB. Rounded to 6 decimals: `powf` may
/// differ in its last bit between platforms, and the page must write the CLI's bytes.
fn srgb_to_linear(c: f64) -> f64 {
    let linear = if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) };
    (linear * 1e6).round() / 1e6
}
