//! `Volume`: a scan's typed voxels, dims and geometry.

use super::error::ReadError;
use super::geometry::Geometry;
use super::voxels::{Datatype, VoxelData};

/// The file format a scan was read from (what "save in the scan's own format" writes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum ScanFormat {
    /// NIfTI-1 (`.nii`, `.nii.gz`, `.hdr` + `.img`).
    Nifti1,
    /// NIfTI-2 (540-byte header).
    Nifti2,
    /// FreeSurfer MGH / MGZ.
    Mgh,
    /// NRRD (`.nrrd`, `.nhdr` + data).
    Nrrd,
    /// A DICOM series or file.
    Dicom,
}

impl ScanFormat {
    /// Its name for people: "NIfTI-1", "MGH/MGZ", …
    pub fn name(self) -> &'static str {
        match self {
            ScanFormat::Nifti1 => "NIfTI-1",
            ScanFormat::Nifti2 => "NIfTI-2",
            ScanFormat::Mgh => "MGH/MGZ",
            ScanFormat::Nrrd => "NRRD",
            ScanFormat::Dicom => "DICOM",
        }
    }

    /// The extension a label map takes in this format where that is not NIfTI: "mgz" for MGH/MGZ,
    /// "seg.nrrd" (3D Slicer's segmentation) for NRRD; `None` for NIfTI and DICOM scans.
    pub fn own_label_extension(self) -> Option<&'static str> {
        match self {
            ScanFormat::Mgh => Some("mgz"),
            ScanFormat::Nrrd => Some("seg.nrrd"),
            ScanFormat::Nifti1 | ScanFormat::Nifti2 | ScanFormat::Dicom => None,
        }
    }
}

/// A scan: up to 7 dims (x, y, z, then time/volumes…), typed voxels and geometry.
#[derive(Clone, Debug)]
pub struct Volume {
    /// `dim[1..=dim[0]]`, each ≥ 1.
    pub dims: Vec<usize>,
    /// Datatype as stored in the file.
    pub datatype: Datatype,
    /// Voxels in the stored type (see [`VoxelData`]), x fastest.
    pub voxels: VoxelData,
    /// `scl_slope`, `scl_inter` when the file asks for scaling.
    pub scaling: Option<(f64, f64)>,
    /// Where voxels are in the world.
    pub geometry: Geometry,
    /// The header's `descrip`, as text.
    pub description: String,
    /// Things the reader converted, assumed or repaired, for the user to know.
    pub notes: Vec<String>,
    /// The format of the file it was read from.
    pub format: ScanFormat,
}

impl Volume {
    /// Size of the first three dims (1 where the file has fewer).
    pub fn shape3(&self) -> [usize; 3] {
        std::array::from_fn(|i| self.dims.get(i).copied().unwrap_or(1))
    }

    /// Voxels in one 3D volume.
    pub fn voxels_per_volume(&self) -> usize {
        self.shape3().iter().product()
    }

    /// How many 3D volumes the file holds (product of dims 4 and up).
    pub fn volume_count(&self) -> usize {
        self.dims.iter().skip(3).product()
    }

    /// The voxel indices of 3D volume `index` (0-based, over dims 4 and up).
    pub fn volume_range(&self, index: usize) -> Result<std::ops::Range<usize>, ReadError> {
        let count = self.volume_count();
        if index >= count {
            return Err(ReadError::VolumeOutOfRange { index, count });
        }
        let n = self.voxels_per_volume();
        Ok(index * n..(index + 1) * n)
    }

    /// The 3D volume `index` (0-based, over dims 4 and up) as scaled f32 values, x fastest.
    pub fn volume_f32(&self, index: usize) -> Result<Vec<f32>, ReadError> {
        Ok(self.voxels.to_f32(self.volume_range(index)?, self.scaling))
    }

    /// One slice of volume `index` as scaled f32 values: the plane `position` along voxel axis
    /// `axis` (0, 1 or 2), with the remaining two axes in order, the lower one fastest.
    /// `None` when the axis, position or volume is out of range.
    pub fn slice_f32(&self, axis: usize, position: usize, index: usize) -> Option<Vec<f32>> {
        let shape = self.shape3();
        if axis > 2 || position >= shape[axis] {
            return None;
        }
        let range = self.volume_range(index).ok()?;
        let strides = [1, shape[0], shape[0] * shape[1]];
        let (a, b) = in_plane_axes(axis);
        let mut out = Vec::with_capacity(shape[a] * shape[b]);
        let plane = range.start + position * strides[axis];
        for j in 0..shape[b] {
            for i in 0..shape[a] {
                out.push(self.scale(self.voxels.get_f64(plane + j * strides[b] + i * strides[a])) as f32);
            }
        }
        Some(out)
    }

    /// Scaled value at voxel (i, j, k) of volume `index`; `None` outside the grid.
    pub fn value_at(&self, ijk: [usize; 3], index: usize) -> Option<f64> {
        let [nx, ny, nz] = self.shape3();
        if ijk[0] >= nx || ijk[1] >= ny || ijk[2] >= nz {
            return None;
        }
        let range = self.volume_range(index).ok()?;
        let raw = self.voxels.get_f64(range.start + ijk[0] + nx * (ijk[1] + ny * ijk[2]));
        Some(self.scale(raw))
    }

    fn scale(&self, raw: f64) -> f64 {
        match self.scaling {
            Some((slope, inter)) => raw * slope + inter,
            None => raw,
        }
    }

    /// Smallest and largest scaled value over all volumes, ignoring NaN.
    pub fn value_range(&self) -> Option<(f64, f64)> {
        let (lo, hi) = self.voxels.min_max(0..self.voxels.len())?;
        let (a, b) = (self.scale(lo), self.scale(hi));
        Some((a.min(b), a.max(b)))
    }

    /// Volume of `count` voxels in millilitres, with the scan's real spacing and units.
    pub fn volume_ml(&self, count: u64) -> f64 {
        count as f64 * self.geometry.voxel_volume_mm3() / 1000.0
    }
}

/// The two voxel axes that span a slice across `axis` (0, 1, 2), lower first.
pub fn in_plane_axes(axis: usize) -> (usize, usize) {
    match axis {
        0 => (1, 2),
        1 => (0, 2),
        _ => (0, 1),
    }
}
