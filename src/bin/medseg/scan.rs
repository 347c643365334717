//! Opening a scan named on the command line.

use medseg::info::escape_controls;
use medseg::volume::{read_nifti_pair, read_nrrd_detached, read_scan, DicomFiles, DicomSeries, ReadLimits, Volume};

/// Reads a scan from a path (NIfTI-1/-2, MGH/MGZ, NRRD or DICOM, by content); a `.hdr` (or
/// `.hdr.gz`) is read with its `.img` beside it, an NRRD `.nhdr` with the data file it names, and a
/// folder as the DICOM series in it (it must hold one; see [`open_scan_series`]).
pub fn open_scan(path: &str) -> Result<Volume, String> {
    open_scan_series(path, None)
}

/// As [`open_scan`], with `series` choosing among the DICOM series of a folder (0-based, in the
/// order [`dicom_folder`] lists them); a folder with several series and no choice is an error that
/// lists them.
pub fn open_scan_series(path: &str, series: Option<usize>) -> Result<Volume, String> {
    if std::path::Path::new(path).is_dir() {
        let folder = dicom_folder(path)?;
        let chosen = match (series, folder.series.len()) {
            (Some(n), count) if n >= count => {
                return Err(format!("{path}: there is no series {n}; the folder holds {count} (0 to {})", count - 1))
            }
            (Some(n), _) => n,
            (None, 1) => 0,
            (None, _) => {
                return Err(format!(
                    "{path} holds {} DICOM series; choose one with --series N:\n{}",
                    folder.series.len(),
                    describe_series(&folder.series)
                ))
            }
        };
        return folder.read(chosen, ReadLimits::default()).map_err(|e| format!("{path}: {e}"));
    }
    if series.is_some() {
        return Err(format!("{path}: --series chooses among the DICOM series of a folder, and this is a file"));
    }
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
    } else if path.ends_with(".nhdr") {
        let data_path = nrrd_data_path(path, &bytes)?;
        read_nrrd_detached(&bytes, &read(&data_path)?, limits)
    } else {
        read_scan(&bytes, limits)
    };
    result.map_err(|e| e.to_string())
}

/// One line per series: its number, description, modality, size and slices.
pub fn describe_series(series: &[DicomSeries]) -> String {
    series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let times =
                if s.frames_per_slice > 1 { format!(" × {} time points", s.frames_per_slice) } else { String::new() };
            let description = if s.description.is_empty() { "(no description)" } else { &s.description };
            format!(
                "  series {i}: {} · {} · {}×{} × {} slices{times} · {} files",
                escape_controls(description),
                escape_controls(&s.modality),
                s.columns,
                s.rows,
                s.slices,
                s.files.len()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads every file under `path` (recursively, hidden files included) and lists its DICOM series.
pub fn dicom_folder(path: &str) -> Result<DicomFiles, String> {
    let mut files = Vec::new();
    let mut pending = vec![std::path::PathBuf::from(path)];
    while let Some(dir) = pending.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| format!("cannot read the folder {}: {e}", dir.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        for entry in entries {
            if entry.is_dir() {
                pending.push(entry);
            } else {
                let bytes = std::fs::read(&entry).map_err(|e| format!("cannot read {}: {e}", entry.display()))?;
                files.push((entry.to_string_lossy().into_owned(), bytes));
            }
        }
    }
    DicomFiles::list(files).map_err(|e| format!("{path}: {e}"))
}

/// The data file an NRRD detached header names (`data file:`), beside the header.
fn nrrd_data_path(header_path: &str, header: &[u8]) -> Result<String, String> {
    let text = String::from_utf8_lossy(&header[..header.len().min(1 << 16)]);
    let name = text
        .lines()
        .find_map(|line| line.strip_prefix("data file:").or_else(|| line.strip_prefix("datafile:")))
        .map(str::trim)
        .ok_or_else(|| format!("{header_path}: an NRRD header (.nhdr) needs a \"data file:\" line naming its data"))?;
    let dir = std::path::Path::new(header_path).parent().unwrap_or(std::path::Path::new("."));
    Ok(dir.join(name).to_string_lossy().into_owned())
}
