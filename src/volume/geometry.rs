//! Voxel→world geometry: the affine chosen exactly as nibabel chooses it (sform, else qform,
//! else pixdim), spatial units, orientation letters and shear.

use nalgebra::Matrix3;

use super::error::ReadError;

/// A 4×4 voxel→world matrix, row-major, in the file's spatial unit (as nibabel reports it).
pub type Affine = [[f64; 4]; 4];

/// Spatial unit from the low three bits of `xyzt_units`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpatialUnit {
    /// Code 0: the file does not say; treated as millimetres.
    Unknown,
    /// Code 1.
    Meter,
    /// Code 2.
    Millimeter,
    /// Code 3.
    Micron,
}

impl SpatialUnit {
    /// Decodes the spatial part of a NIfTI `xyzt_units` byte.
    pub fn from_xyzt_units(xyzt_units: u8) -> SpatialUnit {
        match xyzt_units & 0x07 {
            1 => SpatialUnit::Meter,
            2 => SpatialUnit::Millimeter,
            3 => SpatialUnit::Micron,
            _ => SpatialUnit::Unknown,
        }
    }

    /// How many millimetres one unit of this kind is (unknown counts as millimetres).
    pub fn mm_per_unit(self) -> f64 {
        match self {
            SpatialUnit::Meter => 1000.0,
            SpatialUnit::Millimeter | SpatialUnit::Unknown => 1.0,
            SpatialUnit::Micron => 0.001,
        }
    }

    /// Short name for display ("mm", "µm", "m", "unknown").
    pub fn name(self) -> &'static str {
        match self {
            SpatialUnit::Meter => "m",
            SpatialUnit::Millimeter => "mm",
            SpatialUnit::Micron => "µm",
            SpatialUnit::Unknown => "unknown",
        }
    }
}

/// Which header fields the affine came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AffineSource {
    /// `srow_*`, with this `sform_code` (> 0).
    Sform(i16),
    /// The quaternion fields, with this `qform_code` (> 0).
    Qform(i16),
    /// Neither code set: diagonal from `pixdim`, centred on the volume (nibabel's base affine).
    Pixdim,
    /// A format other than NIfTI, whose own fields give the affine (e.g. "MGH direction cosines
    /// and c_ras", "NRRD space directions and origin").
    Format(&'static str),
}

impl AffineSource {
    /// Human-readable name, e.g. "sform (code 1)".
    pub fn describe(self) -> String {
        match self {
            AffineSource::Sform(code) => format!("sform (code {code})"),
            AffineSource::Qform(code) => format!("qform (code {code})"),
            AffineSource::Pixdim => "pixdim (no qform or sform)".to_string(),
            AffineSource::Format(fields) => fields.to_string(),
        }
    }
}

/// The header fields that define geometry, kept verbatim so outputs can carry them unchanged.
/// Serialisable so that a decoded scan's geometry can travel to another worker (see `web`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HeaderGeometry {
    /// `pixdim[0..8]`: qfac, then voxel sizes (and time step) in file units.
    pub pixdim: [f32; 8],
    /// `qform_code`.
    pub qform_code: i16,
    /// `sform_code`.
    pub sform_code: i16,
    /// `quatern_b`, `quatern_c`, `quatern_d`.
    pub quatern: [f32; 3],
    /// `qoffset_x`, `qoffset_y`, `qoffset_z`.
    pub qoffset: [f32; 3],
    /// `srow_x`, `srow_y`, `srow_z`.
    pub srow: [[f32; 4]; 3],
    /// `xyzt_units`.
    pub xyzt_units: u8,
}

/// Where the voxels are in the world: the chosen affine plus what it was derived from.
#[derive(Clone, Debug, PartialEq)]
pub struct Geometry {
    /// The verbatim header fields.
    pub header: HeaderGeometry,
    /// Voxel→world affine in file units (equal to nibabel's `img.affine`).
    pub affine: Affine,
    /// Which fields `affine` came from.
    pub source: AffineSource,
    /// Spatial unit of `affine` and `pixdim`.
    pub unit: SpatialUnit,
}

impl Geometry {
    /// Builds the geometry of a volume with the given spatial dims (`dim[1..=ndim]`).
    /// Returns notes about fields that were repaired the way nibabel repairs them.
    pub fn from_header(header: HeaderGeometry, dims: &[usize], notes: &mut Vec<String>) -> Result<Geometry, ReadError> {
        let unit = SpatialUnit::from_xyzt_units(header.xyzt_units);
        if unit == SpatialUnit::Unknown {
            notes.push("xyzt_units does not name a spatial unit; millimetres assumed".into());
        }
        let (affine, source) = if header.sform_code > 0 {
            (sform_affine(&header), AffineSource::Sform(header.sform_code))
        } else if header.qform_code > 0 {
            (qform_affine(&header, notes)?, AffineSource::Qform(header.qform_code))
        } else {
            notes.push("no qform or sform: the affine comes from pixdim alone".into());
            (base_affine(&header.pixdim, dims), AffineSource::Pixdim)
        };
        let field = match source {
            AffineSource::Sform(_) => "srow_x/srow_y/srow_z",
            AffineSource::Qform(_) => "quatern_b/c/d, qoffset_x/y/z",
            AffineSource::Pixdim => "pixdim",
            AffineSource::Format(fields) => fields,
        };
        if affine.iter().flatten().any(|v| !v.is_finite()) {
            return Err(ReadError::NonFinite { field: field.into() });
        }
        Ok(Geometry { header, affine, source, unit })
    }

    /// The geometry of a scan read from a format other than NIfTI, whose voxel→world `affine`
    /// (RAS, millimetres) came from `source`. The header fields a NIfTI written from it carries are
    /// the affine as an sform (code 1, scanner) and the axis lengths as pixdim, rounded to float32
    /// as NIfTI-1 stores them; `affine` itself keeps full precision.
    pub fn from_affine(affine: Affine, source: AffineSource) -> Geometry {
        let lengths = axis_lengths(&affine);
        let header = HeaderGeometry {
            pixdim: [1.0, lengths[0] as f32, lengths[1] as f32, lengths[2] as f32, 0.0, 0.0, 0.0, 0.0],
            qform_code: 0,
            sform_code: 1,
            quatern: [0.0; 3],
            qoffset: [0.0; 3],
            srow: std::array::from_fn(|r| affine[r].map(|v| v as f32)),
            xyzt_units: 2,
        };
        Geometry { header, affine, source, unit: SpatialUnit::Millimeter }
    }

    /// Orientation letters of the voxel axes, e.g. "LIA" (nibabel's `aff2axcodes`);
    /// `?` for an axis with no direction.
    pub fn orientation(&self) -> String {
        orientation_letters(&self.affine)
    }

    /// Length of each voxel axis in millimetres (column norms of the affine, unit-converted).
    pub fn spacing_mm(&self) -> [f64; 3] {
        let k = self.unit.mm_per_unit();
        axis_lengths(&self.affine).map(|length| length * k)
    }

    /// Volume of one voxel in mm³ (|det| of the affine's 3×3 part, unit-converted).
    pub fn voxel_volume_mm3(&self) -> f64 {
        let k = self.unit.mm_per_unit();
        voxel_volume(&self.affine) * k * k * k
    }

    /// The affine with every length converted to millimetres.
    pub fn affine_mm(&self) -> Affine {
        let k = self.unit.mm_per_unit();
        let mut a = self.affine;
        for row in a.iter_mut().take(3) {
            for v in row.iter_mut() {
                *v *= k;
            }
        }
        a
    }

    /// Largest |cosine| between two voxel axes in world space: 0 for an orthogonal grid,
    /// larger when the affine has shear.
    pub fn shear(&self) -> f64 {
        let m = rotation_zoom_shear(&self.affine);
        let cols: Vec<_> = (0..3).map(|c| m.column(c).normalize()).collect();
        let mut worst: f64 = 0.0;
        for i in 0..3 {
            for j in i + 1..3 {
                let cos = cols[i].dot(&cols[j]);
                if cos.is_finite() {
                    worst = worst.max(cos.abs());
                }
            }
        }
        worst
    }
}

/// Shear (max |cos| between axes) above which the geometry is reported as sheared.
pub const SHEAR_TOLERANCE: f64 = 1e-4;

/// The length of each voxel axis in the affine's units (its columns' norms).
pub fn axis_lengths(affine: &Affine) -> [f64; 3] {
    std::array::from_fn(|c| (0..3).map(|r| affine[r][c].powi(2)).sum::<f64>().sqrt())
}

/// The volume of one voxel in the affine's units (|det| of its 3×3 part).
pub fn voxel_volume(affine: &Affine) -> f64 {
    rotation_zoom_shear(affine).determinant().abs()
}

fn rotation_zoom_shear(affine: &Affine) -> Matrix3<f64> {
    Matrix3::from_fn(|r, c| affine[r][c])
}

fn sform_affine(h: &HeaderGeometry) -> Affine {
    let row = |r: [f32; 4]| r.map(f64::from);
    [row(h.srow[0]), row(h.srow[1]), row(h.srow[2]), [0.0, 0.0, 0.0, 1.0]]
}

/// nibabel's `Nifti1Header.get_qform`, after its load-time fixes (negative pixdims made positive,
/// qfac other than ±1 taken as 1).
fn qform_affine(h: &HeaderGeometry, notes: &mut Vec<String>) -> Result<Affine, ReadError> {
    let [b, c, d] = h.quatern.map(f64::from);
    let w2 = 1.0 - (b * b + c * c + d * d);
    let w = if w2 < 0.0 {
        if w2 < -3.0 * f64::from(f32::EPSILON) {
            return Err(ReadError::InvalidField {
                field: "quatern_b/c/d".into(),
                problem: format!("b²+c²+d² = {:.6} exceeds 1, so they are not a unit quaternion", 1.0 - w2),
            });
        }
        0.0
    } else {
        w2.sqrt()
    };
    let rot = quaternion_to_matrix(w, b, c, d);
    let mut zooms = [h.pixdim[1], h.pixdim[2], h.pixdim[3]].map(f64::from);
    if zooms.iter().any(|z| *z < 0.0) {
        notes.push("negative pixdim[1..3] made positive for the qform (as nibabel does)".into());
        zooms = zooms.map(f64::abs);
    }
    let qfac = if h.pixdim[0] == -1.0 { -1.0 } else { 1.0 };
    if h.pixdim[0] != 1.0 && h.pixdim[0] != -1.0 {
        notes.push(format!("qfac (pixdim[0]) is {}, taken as 1 (as nibabel does)", h.pixdim[0]));
    }
    zooms[2] *= qfac;
    let mut a = [[0.0; 4]; 4];
    for r in 0..3 {
        for col in 0..3 {
            a[r][col] = rot[r][col] * zooms[col];
        }
        a[r][3] = f64::from(h.qoffset[r]);
    }
    a[3][3] = 1.0;
    Ok(a)
}

/// nibabel's `quat2mat`.
fn quaternion_to_matrix(w: f64, x: f64, y: f64, z: f64) -> [[f64; 3]; 3] {
    let nq = w * w + x * x + y * y + z * z;
    if nq < f64::EPSILON {
        return [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    }
    let s = 2.0 / nq;
    let (xs, ys, zs) = (x * s, y * s, z * s);
    let (wx, wy, wz) = (w * xs, w * ys, w * zs);
    let (xx, xy, xz) = (x * xs, x * ys, x * zs);
    let (yy, yz, zz) = (y * ys, y * zs, z * zs);
    [[1.0 - (yy + zz), xy - wz, xz + wy], [xy + wz, 1.0 - (xx + zz), yz - wx], [xz - wy, yz + wx, 1.0 - (xx + yy)]]
}

/// nibabel's `get_base_affine`: `shape_zoom_affine(shape, zooms, x_flip=True)`.
fn base_affine(pixdim: &[f32; 8], dims: &[usize]) -> Affine {
    let mut a = [[0.0; 4]; 4];
    for axis in 0..3 {
        let n = dims.get(axis).copied().unwrap_or(1) as f64;
        let mut zoom = if axis < dims.len() { f64::from(pixdim[axis + 1]) } else { 1.0 };
        if axis == 0 {
            zoom = -zoom;
        }
        a[axis][axis] = zoom;
        a[axis][3] = -(n - 1.0) / 2.0 * zoom;
    }
    a[3][3] = 1.0;
    a
}

/// Orientation letters of the three voxel axes (nibabel's `io_orientation` + `ornt2axcodes`,
/// labels L→R, P→A, I→S).
pub fn orientation_letters(affine: &Affine) -> String {
    let rzs = rotation_zoom_shear(affine);
    let mut rs = rzs;
    for c in 0..3 {
        let norm = rzs.column(c).norm();
        if norm != 0.0 {
            rs.set_column(c, &(rzs.column(c) / norm));
        }
    }
    // Polar decomposition: the closest shear-free matrix to RS.
    let svd = rs.svd(true, true);
    let (Some(u), Some(v_t)) = (svd.u, svd.v_t) else {
        return "???".into();
    };
    let s = svd.singular_values;
    let tol = s.max() * 3.0 * f64::EPSILON;
    let mut r = Matrix3::zeros();
    for k in 0..3 {
        if s[k] > tol {
            r += u.column(k) * v_t.row(k);
        }
    }
    // Strongest input axes first (stable on ties), each claiming its largest output axis.
    let mut order: Vec<usize> = (0..3).collect();
    let strength = |c: usize| (0..3).map(|row| r[(row, c)].powi(2)).fold(0.0, f64::max);
    order.sort_by(|&a, &b| strength(b).total_cmp(&strength(a)));
    let mut letters = ['?'; 3];
    for in_axis in order {
        let col = r.column(in_axis).into_owned();
        if col.iter().all(|v| v.abs() <= 1e-8) {
            continue;
        }
        let out_axis = col.iamax();
        let positive = col[out_axis] > 0.0;
        letters[in_axis] = match (out_axis, positive) {
            (0, true) => 'R',
            (0, false) => 'L',
            (1, true) => 'A',
            (1, false) => 'P',
            (2, true) => 'S',
            _ => 'I',
        };
        for c in 0..3 {
            r[(out_axis, c)] = 0.0;
        }
    }
    letters.iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_of_simple_affines() {
        let ras = [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]];
        assert_eq!(orientation_letters(&ras), "RAS");
        let lia = [[-1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, -1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]];
        assert_eq!(orientation_letters(&lia), "LIA");
    }

    #[test]
    fn base_affine_matches_nibabel_docstring() {
        // nibabel: shape (3, 5, 7), zooms (3, 2, 1) → [[-3,0,0,3],[0,2,0,-4],[0,0,1,-3]].
        let pixdim = [1.0, 3.0, 2.0, 1.0, 0.0, 0.0, 0.0, 0.0];
        let a = base_affine(&pixdim, &[3, 5, 7]);
        assert_eq!(a[0], [-3.0, 0.0, 0.0, 3.0]);
        assert_eq!(a[1], [0.0, 2.0, 0.0, -4.0]);
        assert_eq!(a[2], [0.0, 0.0, 1.0, -3.0]);
    }

    #[test]
    fn units_convert_to_mm() {
        assert_eq!(SpatialUnit::from_xyzt_units(10), SpatialUnit::Millimeter);
        assert_eq!(SpatialUnit::from_xyzt_units(3).mm_per_unit(), 0.001);
        assert_eq!(SpatialUnit::from_xyzt_units(1).mm_per_unit(), 1000.0);
        assert_eq!(SpatialUnit::from_xyzt_units(0), SpatialUnit::Unknown);
    }
}
