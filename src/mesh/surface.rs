//! The triangle mesh itself: positions and outward triangles, the volume they enclose, their
//! bounds and normals; and a label's surface with its name and colour.

/// A triangle mesh: positions (mm) and triangles wound counter-clockwise seen from outside.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mesh {
    /// Vertex positions in millimetres.
    pub positions: Vec<[f32; 3]>,
    /// Vertex indices of each triangle.
    pub triangles: Vec<[u32; 3]>,
}

impl Mesh {
    /// The volume the mesh encloses (mm³; divergence theorem, positive for outward winding).
    pub fn enclosed_volume_mm3(&self) -> f64 {
        self.triangles
            .iter()
            .map(|t| {
                let [a, b, c] = t.map(|v| self.positions[v as usize].map(f64::from));
                (a[0] * (b[1] * c[2] - b[2] * c[1])
                    + a[1] * (b[2] * c[0] - b[0] * c[2])
                    + a[2] * (b[0] * c[1] - b[1] * c[0]))
                    / 6.0
            })
            .sum()
    }

    /// Smallest and largest coordinate along each world axis; `None` for an empty mesh.
    pub fn bounds(&self) -> Option<[[f32; 2]; 3]> {
        let first = self.positions.first()?;
        let mut b = first.map(|v| [v, v]);
        for p in &self.positions {
            for axis in 0..3 {
                b[axis][0] = b[axis][0].min(p[axis]);
                b[axis][1] = b[axis][1].max(p[axis]);
            }
        }
        Some(b)
    }

    /// Unit vertex normals: the area-weighted mean of the normals of the triangles around each.
    pub fn vertex_normals(&self) -> Vec<[f32; 3]> {
        let mut sums = vec![[0f64; 3]; self.positions.len()];
        for t in &self.triangles {
            let n = face_normal(&self.positions, *t);
            for &v in t {
                for axis in 0..3 {
                    sums[v as usize][axis] += n[axis];
                }
            }
        }
        sums.iter()
            .map(|s| {
                let length = (s[0] * s[0] + s[1] * s[1] + s[2] * s[2]).sqrt();
                if length > 0.0 {
                    s.map(|v| (v / length) as f32)
                } else {
                    [0.0, 0.0, 1.0]
                }
            })
            .collect()
    }
}

/// A triangle's normal scaled by twice its area.
pub fn face_normal(positions: &[[f32; 3]], t: [u32; 3]) -> [f64; 3] {
    let [a, b, c] = t.map(|v| positions[v as usize].map(f64::from));
    let (u, v) = ([b[0] - a[0], b[1] - a[1], b[2] - a[2]], [c[0] - a[0], c[1] - a[1], c[2] - a[2]]);
    [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]]
}

/// The surface of one label, with its name and colour.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelSurface {
    /// The label's voxel value.
    pub value: u16,
    /// Its name (from the label table, else "label N").
    pub name: String,
    /// Its colour.
    pub rgb: [u8; 3],
    /// The closed surface.
    pub mesh: Mesh,
}
