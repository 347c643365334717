//! Scans: [`Volume`] (typed voxels, dims and geometry), reading and writing NIfTI, grids and
//! resampling, blocks, intensity statistics.

pub(crate) mod blocks;
pub(crate) mod budget;
pub(crate) mod error;
pub(crate) mod geometry;
pub(crate) mod intensity;
pub(crate) mod nifti_read;
pub(crate) mod nifti_write;
pub mod resample;
pub(crate) mod scan;
pub(crate) mod voxels;

pub use budget::{Bytes, MemoryBudget, OverBudget, DEFAULT_BUDGET_BYTES};
pub use error::ReadError;
pub use geometry::{Affine, AffineSource, Geometry, HeaderGeometry, SpatialUnit};
pub use nifti_read::{read_nifti, read_nifti_pair, ReadLimits};
pub use nifti_write::{write_label_map, TooLargeForNifti1};
pub use scan::{in_plane_axes, Volume};
pub use voxels::{Datatype, VoxelData};
