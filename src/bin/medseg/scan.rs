//! Opening a scan named on the command line.

use medseg::{read_nifti, read_nifti_pair, ReadLimits, Volume};

/// Reads a scan from a path; a `.hdr` (or `.hdr.gz`) is read with its `.img` beside it.
pub fn open_scan(path: &str) -> Result<Volume, String> {
    let read = |p: &str| std::fs::read(p).map_err(|e| format!("cannot read {p}: {e}"));
    let bytes = read(path)?;
    let limits = ReadLimits::default();
    let result = if let Some(stem) = path.strip_suffix(".hdr").or_else(|| path.strip_suffix(".hdr.gz")) {
        let img_path = [".img", ".img.gz"]
            .iter()
            .map(|ext| format!("{stem}{ext}"))
            .find(|p| std::path::Path::new(p).exists())
            .ok_or_else(|| format!("the header {path} needs its image file {stem}.img beside it"))?;
        read_nifti_pair(&bytes, &read(&img_path)?, limits)
    } else {
        read_nifti(&bytes, limits)
    };
    result.map_err(|e| e.to_string())
}
