//! Label maps: per-voxel label values on a scan's grid, and their names and colours
//! (the JSON sidecar `{"labels":[{"value":1,"name":"...","rgb":[r,g,b]}]}`).

use serde::{Deserialize, Serialize};

use crate::volume::{
    write_label_map, write_mgh_label_map, write_seg_nrrd, Affine, HeaderGeometry, NiftiVersion, ReadError, ScanFormat,
    Volume,
};

/// One label's name and display colour.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// Voxel value.
    pub value: u16,
    /// Human-readable name.
    pub name: String,
    /// Display colour.
    pub rgb: [u8; 3],
}

/// The JSON sidecar of a label map.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelTable {
    /// Labels, in value order.
    pub labels: Vec<Label>,
}

impl LabelTable {
    /// Parses a sidecar.
    pub fn from_json(text: &str) -> Result<LabelTable, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Serialises the sidecar (pretty-printed).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a label table always serialises")
    }
}

/// Label values on the grid of a source scan.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelMap {
    /// Grid size (x, y, z).
    pub shape: [usize; 3],
    /// One value per voxel, x fastest.
    pub values: Vec<u16>,
    /// Geometry fields of the scan the map belongs to, written out unchanged.
    pub geometry: HeaderGeometry,
    /// The scan's voxel→world affine (RAS, mm) at full precision, for formats other than NIfTI.
    pub affine: Affine,
    /// The format of the scan the map belongs to (a NIfTI-2 scan gets a NIfTI-2 label map).
    pub format: ScanFormat,
    /// Names and colours.
    pub table: LabelTable,
}

impl LabelMap {
    /// Takes volume `index` of a scan as a label map (values rounded; negative or non-finite
    /// values become 0, values above 65535 are clamped).
    pub fn from_volume(scan: &Volume, index: usize) -> Result<LabelMap, ReadError> {
        let values = scan
            .volume_f32(index)?
            .into_iter()
            .map(|v| if v.is_finite() && v > 0.0 { v.round().min(f32::from(u16::MAX)) as u16 } else { 0 })
            .collect();
        Ok(LabelMap::on_grid_of(scan, values, LabelTable::default()))
    }

    /// `values` (x fastest, one per voxel of the scan's first volume) as a label map on `scan`'s
    /// grid, carrying its geometry and format.
    pub fn on_grid_of(scan: &Volume, values: Vec<u16>, table: LabelTable) -> LabelMap {
        LabelMap {
            shape: scan.shape3(),
            values,
            geometry: scan.geometry.header.clone(),
            affine: scan.geometry.affine_mm(),
            format: scan.format,
            table,
        }
    }

    /// A one-slice label map for a 2D picture's mask (`cols × rows`, row by row): voxel i is
    /// the column, j the row, 1 mm pixels, with an sform that puts row 0 at the top.
    pub fn from_picture_mask(cols: usize, rows: usize, mask: &[u8]) -> LabelMap {
        let geometry = HeaderGeometry {
            pixdim: [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0],
            qform_code: 0,
            sform_code: 2,
            quatern: [0.0; 3],
            qoffset: [0.0; 3],
            srow: [[1.0, 0.0, 0.0, 0.0], [0.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]],
            xyzt_units: 2,
        };
        LabelMap {
            shape: [cols, rows, 1],
            values: mask.iter().map(|&v| u16::from(v != 0)).collect(),
            affine: [[1.0, 0.0, 0.0, 0.0], [0.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]],
            format: ScanFormat::Nifti1,
            geometry,
            table: LabelTable { labels: vec![Label { value: 1, name: "object".into(), rgb: [255, 64, 64] }] },
        }
    }

    /// Voxel count of every label value present (value, count), in value order, 0 excluded.
    pub fn counts(&self) -> Vec<(u16, u64)> {
        count_labels(&self.values)
    }

    /// Encodes the map as `.nii.gz` bytes with its scan's geometry: NIfTI-2 when the scan was
    /// NIfTI-2 or a side exceeds NIfTI-1's int16 dims, else NIfTI-1.
    pub fn to_nii_gz(&self) -> Vec<u8> {
        let version = if self.format == ScanFormat::Nifti2 { NiftiVersion::Two } else { NiftiVersion::Auto };
        write_label_map(&self.values, self.shape, &self.geometry, version)
    }

    /// The map in the format a file name asks for: `.mgz`/`.mgh` → gzipped MGH; `.nrrd` → an NRRD
    /// 3D Slicer opens as a segmentation, with the table's names and colours; anything else →
    /// `.nii.gz` (see `to_nii_gz`).
    pub fn encode_for(&self, file_name: &str) -> Vec<u8> {
        let lower = file_name.to_ascii_lowercase();
        if lower.ends_with(".mgz") || lower.ends_with(".mgh") {
            write_mgh_label_map(&self.values, self.shape, &self.affine)
        } else if lower.ends_with(".nrrd") {
            write_seg_nrrd(&self.values, self.shape, &self.affine, &self.segments())
        } else {
            self.to_nii_gz()
        }
    }

    /// (value, name, colour) of every label present, named from the table where it has them.
    fn segments(&self) -> Vec<(u16, String, [u8; 3])> {
        self.counts()
            .into_iter()
            .map(|(value, _)| {
                let known = self.table.labels.iter().find(|l| l.value == value);
                (
                    value,
                    known.map_or_else(|| format!("label {value}"), |l| l.name.clone()),
                    known.map_or([128, 128, 128], |l| l.rgb),
                )
            })
            .collect()
    }
}

/// Voxel count of every label value present (value, count), in value order, 0 excluded.
pub fn count_labels(values: &[u16]) -> Vec<(u16, u64)> {
    let mut counts = vec![0u64; usize::from(u16::MAX) + 1];
    for &v in values {
        counts[usize::from(v)] += 1;
    }
    counts.iter().enumerate().skip(1).filter(|(_, &c)| c > 0).map(|(v, &c)| (v as u16, c)).collect()
}
