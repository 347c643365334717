//! Scans: [`Volume`] (typed voxels, dims and geometry), reading and writing NIfTI and MGH/MGZ, grids and
//! resampling, blocks, intensity statistics.

pub(crate) mod blocks;
pub(crate) mod budget;
pub(crate) mod dicom;
pub(crate) mod error;
pub(crate) mod formats;
pub(crate) mod geometry;
pub(crate) mod intensity;
pub(crate) mod mgh;
pub(crate) mod nifti_header;
pub(crate) mod nifti_read;
pub(crate) mod nifti_write;
pub(crate) mod nrrd;
pub mod resample;
pub(crate) mod scan;
pub(crate) mod voxels;

pub use budget::{Bytes, MemoryBudget, OverBudget, DEFAULT_BUDGET_BYTES};
pub use dicom::{list_dicom_series, read_dicom_file, read_dicom_series, DicomFiles, DicomInput, DicomSeries};
pub use error::ReadError;
pub use formats::{file_kind, read_scan, FileKind};
pub use geometry::{Affine, AffineSource, Geometry, HeaderGeometry, SpatialUnit};
pub use mgh::{read_mgh, write_mgh, write_mgh_label_map};
pub use nifti_read::{read_nifti, read_nifti_pair, ReadLimits};
pub use nifti_write::{write_label_map, write_nifti, NiftiVersion};
pub use nrrd::{read_nrrd, read_nrrd_detached, write_nrrd, write_seg_nrrd};
pub use scan::{in_plane_axes, ScanFormat, Volume};
pub use voxels::{Datatype, VoxelData};
