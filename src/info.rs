//! The summary of a scan shown by `medseg info` and by the page: dims, type, spacing, units,
//! orientation, affine, value range.

use std::fmt;

use serde::Serialize;

use crate::volume::{geometry::SHEAR_TOLERANCE, Affine, Volume};

/// Everything a user needs to know about a scan's header, in display-ready form.
#[derive(Clone, Debug, Serialize)]
pub struct ScanInfo {
    /// The file format ("NIfTI-1", "NIfTI-2", "MGH/MGZ", "NRRD", "DICOM").
    pub format: String,
    /// All dims (x, y, z, then volumes…).
    pub dims: Vec<usize>,
    /// Stored datatype ("int16", "rgb24", …).
    pub datatype: String,
    /// Voxel size along each axis, in millimetres.
    pub spacing_mm: [f64; 3],
    /// Spatial unit the file declares ("mm", "µm", "m", "unknown").
    pub unit: String,
    /// Orientation letters of the voxel axes, e.g. "LIA".
    pub orientation: String,
    /// Voxel→world affine in the file's unit (as nibabel reports it).
    pub affine: Affine,
    /// The same affine with lengths in millimetres.
    pub affine_mm: Affine,
    /// Which header fields the affine came from.
    pub affine_source: String,
    /// Largest |cos| between voxel axes (0 = no shear).
    pub shear: f64,
    /// Smallest and largest value (scaled, NaN ignored); absent when every voxel is NaN.
    pub value_range: Option<[f64; 2]>,
    /// Number of 3D volumes.
    pub volume_count: usize,
    /// Volume of one voxel in mm³.
    pub voxel_volume_mm3: f64,
    /// `scl_slope`, `scl_inter` when applied.
    pub scaling: Option<[f64; 2]>,
    /// The header's description text.
    pub description: String,
    /// What the reader converted, assumed or repaired.
    pub notes: Vec<String>,
}

impl ScanInfo {
    /// Summarises a scan.
    pub fn of(volume: &Volume) -> ScanInfo {
        let g = &volume.geometry;
        ScanInfo {
            format: volume.format.name().to_string(),
            dims: volume.dims.clone(),
            datatype: volume.datatype.name().to_string(),
            spacing_mm: g.spacing_mm(),
            unit: g.unit.name().to_string(),
            orientation: g.orientation(),
            affine: g.affine,
            affine_mm: g.affine_mm(),
            affine_source: g.source.describe(),
            shear: g.shear(),
            value_range: volume.value_range().map(|(lo, hi)| [lo, hi]),
            volume_count: volume.volume_count(),
            voxel_volume_mm3: g.voxel_volume_mm3(),
            scaling: volume.scaling.map(|(s, i)| [s, i]),
            description: volume.description.clone(),
            notes: volume.notes.clone(),
        }
    }

    /// As JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("scan info always serialises")
    }
}

impl fmt::Display for ScanInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self.dims.iter().map(usize::to_string).collect();
        writeln!(f, "  format       {}", self.format)?;
        writeln!(f, "  dims         {}", dims.join(" × "))?;
        writeln!(f, "  datatype     {}", self.datatype)?;
        let [sx, sy, sz] = self.spacing_mm;
        writeln!(f, "  spacing      {sx:.4} × {sy:.4} × {sz:.4} mm (file unit: {})", self.unit)?;
        writeln!(f, "  voxel volume {:.4} mm³", self.voxel_volume_mm3)?;
        writeln!(f, "  orientation  {}", self.orientation)?;
        writeln!(f, "  affine       from {}", self.affine_source)?;
        for row in &self.affine[..3] {
            writeln!(f, "               [{:>10.4} {:>10.4} {:>10.4} {:>10.4}]", row[0], row[1], row[2], row[3])?;
        }
        if self.shear > SHEAR_TOLERANCE {
            writeln!(f, "  shear        max |cos| between axes {:.4}", self.shear)?;
        }
        match self.value_range {
            Some([lo, hi]) => writeln!(f, "  value range  {lo} … {hi}")?,
            None => writeln!(f, "  value range  (all NaN)")?,
        }
        if let Some([slope, inter]) = self.scaling {
            writeln!(f, "  scaling      value × {slope} + {inter}")?;
        }
        writeln!(f, "  volumes      {}", self.volume_count)?;
        if !self.description.is_empty() {
            writeln!(f, "  description  {}", escape_controls(&self.description))?;
        }
        for note in &self.notes {
            writeln!(f, "  note         {}", escape_controls(note))?;
        }
        Ok(())
    }
}

/// Text from a file with its control characters (terminal escape sequences, bells, line breaks)
/// shown escaped, e.g. `\u{1b}`, so printing it cannot drive the terminal.
pub fn escape_controls(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}
