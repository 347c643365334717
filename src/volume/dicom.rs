//! DICOM series: listing the image series among a set of files ([`list_dicom_series`]) and reading
//! one into a [`Volume`] ([`read_dicom_series`]), or one file on its own ([`read_dicom_file`]).
//!
//! Geometry follows dcm2niix, so that a DICOM series and dcm2niix's NIfTI of it (and label maps
//! drawn on that NIfTI) share one grid, voxel for voxel:
//! - voxel i runs along the DICOM row direction (ImageOrientationPatient's row cosine, across
//!   columns), j along the column cosine (down the rows) but stored bottom row first, as dcm2niix
//!   does (its "flip Y"), and k along the slice normal (row cosine × column cosine), slices sorted
//!   by the projection of ImagePositionPatient on it;
//! - the affine's columns are row cosine × PixelSpacing\[1\], −column cosine × PixelSpacing\[0\],
//!   normal × the slice spacing measured from the positions (not SliceThickness); its origin is the
//!   first slice's position moved to its last row; DICOM's LPS becomes NIfTI's RAS by negating the
//!   first two rows.
//! - A single slice takes SpacingBetweenSlices, else SliceThickness, else 1 mm as its thickness
//!   (with a note).
//!
//! Values stay as stored (uint/int 8, 16 or 32 bits, BitsStored applied) with RescaleSlope and
//! RescaleIntercept as [`Volume::scaling`] when every frame shares them; otherwise they become
//! float32. MONOCHROME1 is inverted so that larger values are brighter.
//!
//! Not supported yet (each a clear error): colour (SamplesPerPixel > 1), 1-bit and float pixel
//! data, JPEG-LS, JPEG XL, MPEG/HEVC video transfer syntaxes, gantry tilt, files without the
//! DICOM File Meta header, multi-echo enhanced MR in one file.

use std::collections::BTreeMap;

use dicom_dictionary_std::tags;
use dicom_object::file::ReadPreamble;
use dicom_object::mem::InMemDicomObject;
use dicom_object::{FileDicomObject, OpenFileOptions};
use dicom_pixeldata::PixelDecoder;
use dicom_transfer_syntax_registry::{TransferSyntaxIndex, TransferSyntaxRegistry};
use serde::Serialize;

use super::error::ReadError;
use super::geometry::{Affine, AffineSource, Geometry};
use super::nifti_read::{within_budget, ReadLimits};
use super::scan::{ScanFormat, Volume};
use super::voxels::{Datatype, VoxelData};

const SOURCE: AffineSource = AffineSource::Format("DICOM ImagePositionPatient, ImageOrientationPatient, PixelSpacing");

/// One file given to the reader: its name (for messages) and its bytes.
#[derive(Clone, Copy, Debug)]
pub struct DicomInput<'a> {
    /// File name or path, as the user knows it.
    pub name: &'a str,
    /// The whole file.
    pub bytes: &'a [u8],
}

/// One image series found by [`list_dicom_series`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DicomSeries {
    /// SeriesInstanceUID (several entries share it when orientation, echo or size differ).
    pub uid: String,
    /// SeriesDescription (may be empty).
    pub description: String,
    /// Modality (CT, MR, …).
    pub modality: String,
    /// Rows of each frame.
    pub rows: usize,
    /// Columns of each frame.
    pub columns: usize,
    /// Distinct slice positions.
    pub slices: usize,
    /// Temporal positions per slice (1 for a 3D series).
    pub frames_per_slice: usize,
    /// Indices of its files in the inputs.
    pub files: Vec<usize>,
}

fn err(message: impl Into<String>) -> ReadError {
    ReadError::Dicom(message.into())
}

// ---------------------------------------------------------------------------------------------
// Parsing

type Obj = InMemDicomObject;

/// Where the File Meta group starts ("DICM"), or why the bytes are not a DICOM file.
fn dicm_offset(bytes: &[u8]) -> Result<usize, String> {
    if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
        Ok(128)
    } else if bytes.len() >= 4 && &bytes[0..4] == b"DICM" {
        Ok(0)
    } else if bytes.len() < 132 {
        Err(format!("not a DICOM file: only {} bytes, no \"DICM\" marker at byte 128", bytes.len()))
    } else {
        Err("not a DICOM file: no \"DICM\" marker at byte 128 (files without the DICOM File Meta header are not supported yet)".into())
    }
}

fn parse(input: &DicomInput, headers_only: bool) -> Result<FileDicomObject<Obj>, String> {
    let offset = dicm_offset(input.bytes).map_err(|e| format!("{}: {e}", input.name))?;
    let options = OpenFileOptions::new().read_preamble(ReadPreamble::Never);
    let options = if headers_only { options.read_until(tags::PIXEL_DATA) } else { options.read_all() };
    options.from_reader(&input.bytes[offset..]).map_err(|e| {
        format!("{} could not be parsed as DICOM ({e}); the file is probably truncated or corrupt", input.name)
    })
}

/// The raw text of an element stored with VR UN ("unknown": some writers store standard
/// attributes so, e.g. pydicom's rtdose_rle.dcm its positions), which pydicom reads through its
/// dictionary; `None` for any other VR.
fn unknown_vr_text(obj: &Obj, tag: dicom_core::Tag) -> Option<String> {
    let element = obj.get(tag)?;
    if element.vr() != dicom_core::VR::UN {
        return None;
    }
    let bytes = element.to_bytes().ok()?;
    Some(String::from_utf8_lossy(&bytes).trim_matches(|c: char| c.is_whitespace() || c == '\0').to_owned())
}

fn text(obj: &Obj, tag: dicom_core::Tag) -> Option<String> {
    let s = match unknown_vr_text(obj, tag) {
        Some(s) => s,
        None => obj.get(tag)?.to_str().ok()?.into_owned(),
    };
    let s = s.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    (!s.is_empty()).then(|| s.to_owned())
}

fn floats(obj: &Obj, tag: dicom_core::Tag) -> Option<Vec<f64>> {
    if let Some(s) = unknown_vr_text(obj, tag) {
        let values: Option<Vec<f64>> = s.split('\\').map(|v| v.trim().parse::<f64>().ok()).collect();
        return values.filter(|v| !v.is_empty());
    }
    obj.get(tag)?.to_multi_float64().ok().filter(|v| !v.is_empty())
}

fn float(obj: &Obj, tag: dicom_core::Tag) -> Option<f64> {
    floats(obj, tag).map(|v| v[0])
}

fn int(obj: &Obj, tag: dicom_core::Tag) -> Option<i64> {
    if let Some(s) = unknown_vr_text(obj, tag) {
        return s.split('\\').next()?.trim().parse().ok();
    }
    obj.get(tag)?.to_int::<i64>().ok()
}

fn first_item(obj: &Obj, tag: dicom_core::Tag) -> Option<&Obj> {
    obj.get(tag)?.items()?.first()
}

fn fixed<const N: usize>(v: Option<Vec<f64>>) -> Option<[f64; N]> {
    let v = v?;
    (v.len() >= N && v.iter().take(N).all(|x| x.is_finite())).then(|| std::array::from_fn(|i| v[i]))
}

/// Known non-image storage classes (no pixel grid to show).
fn non_image_class(sop_class: &str) -> Option<&'static str> {
    const CLASSES: &[(&str, &str)] = &[
        ("1.2.840.10008.1.3.10", "a DICOMDIR (media directory)"),
        ("1.2.840.10008.5.1.4.1.1.66.4", "a Segmentation object (SEG)"),
        ("1.2.840.10008.5.1.4.1.1.481.3", "an RT Structure Set (RTSTRUCT)"),
        ("1.2.840.10008.5.1.4.1.1.481.5", "an RT Plan"),
        ("1.2.840.10008.5.1.4.1.1.88.", "a Structured Report (SR)"),
        ("1.2.840.10008.5.1.4.1.1.11.", "a Presentation State (PR)"),
        ("1.2.840.10008.5.1.4.1.1.104.", "an encapsulated document (PDF/CDA)"),
        ("1.2.840.10008.5.1.4.1.1.9.", "a waveform (ECG, audio…)"),
        ("1.2.840.10008.5.1.4.1.1.66", "raw data, registration or fiducials"),
    ];
    CLASSES.iter().find(|(uid, _)| sop_class == *uid || (uid.ends_with('.') && sop_class.starts_with(uid))).map(|c| c.1)
}

/// What one frame contributes to the geometry.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct GeomFrame {
    /// "file" or "file frame N", for messages.
    pub label: String,
    /// ImagePositionPatient (LPS mm), when present.
    pub ipp: Option<[f64; 3]>,
    /// ImageOrientationPatient: row cosine, column cosine.
    pub iop: Option<[f64; 6]>,
    /// PixelSpacing: between rows, between columns.
    pub spacing: Option<[f64; 2]>,
    /// TemporalPositionIdentifier / TemporalPositionIndex, TriggerTime, AcquisitionNumber.
    pub time: [Option<f64>; 3],
}

/// One frame of one file.
#[derive(Clone, Debug)]
struct Frame {
    geom: GeomFrame,
    /// Index into the inputs.
    input: usize,
    /// Frame within the file.
    frame: usize,
    /// RescaleSlope, RescaleIntercept.
    rescale: (f64, f64),
}

/// The header of one image file.
#[derive(Clone, Debug)]
struct Header {
    uid: String,
    description: String,
    modality: String,
    rows: usize,
    columns: usize,
    echo: Option<String>,
    /// SpacingBetweenSlices, else SliceThickness (for one slice), and which it was.
    thickness: Option<(f64, &'static str)>,
    frames: Vec<Frame>,
}

/// Reads what [`list_dicom_series`] needs from one file; `Err` says why it is skipped.
fn header(index: usize, input: &DicomInput) -> Result<Header, String> {
    let obj = parse(input, true)?;
    let meta_class = obj.meta().media_storage_sop_class_uid.trim_end_matches('\0').trim().to_owned();
    let sop_class = text(&obj, tags::SOP_CLASS_UID).unwrap_or(meta_class);
    if let Some(what) = non_image_class(&sop_class) {
        return Err(format!("{}: {what} (SOP class {sop_class}), not an image", input.name));
    }
    let (Some(rows), Some(columns)) = (int(&obj, tags::ROWS), int(&obj, tags::COLUMNS)) else {
        return Err(format!("{}: no Rows/Columns (SOP class {sop_class}): not an image", input.name));
    };
    if rows <= 0 || columns <= 0 {
        return Err(format!("{}: Rows {rows} × Columns {columns}, expected both ≥ 1", input.name));
    }
    let frames = int(&obj, tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1) as usize;
    let rescale_of = |o: &Obj| -> Option<(f64, f64)> {
        let slope = float(o, tags::RESCALE_SLOPE);
        let inter = float(o, tags::RESCALE_INTERCEPT);
        (slope.is_some() || inter.is_some()).then(|| (slope.unwrap_or(1.0), inter.unwrap_or(0.0)))
    };
    let time_of = |o: &Obj| -> [Option<f64>; 3] {
        [
            int(o, tags::TEMPORAL_POSITION_IDENTIFIER).map(|v| v as f64),
            float(o, tags::TRIGGER_TIME),
            int(o, tags::ACQUISITION_NUMBER).map(|v| v as f64),
        ]
    };
    let base = GeomFrame {
        label: input.name.to_owned(),
        ipp: fixed(floats(&obj, tags::IMAGE_POSITION_PATIENT)),
        iop: fixed(floats(&obj, tags::IMAGE_ORIENTATION_PATIENT)),
        spacing: fixed(floats(&obj, tags::PIXEL_SPACING)),
        time: time_of(&obj),
    };
    let base_rescale = rescale_of(&obj).unwrap_or((1.0, 0.0));
    let spacing_between = float(&obj, tags::SPACING_BETWEEN_SLICES).filter(|v| v.is_finite() && *v > 0.0);
    let slice_thickness = float(&obj, tags::SLICE_THICKNESS).filter(|v| v.is_finite() && *v > 0.0);
    let thickness =
        spacing_between.map(|v| (v, "SpacingBetweenSlices")).or(slice_thickness.map(|v| (v, "SliceThickness")));

    let mut out = Vec::with_capacity(frames.min(1 << 16));
    let per_frame = obj.get(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE).and_then(|e| e.items());
    let shared = first_item(&obj, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE);
    if let Some(items) = per_frame {
        // Enhanced multi-frame: each frame's functional groups, falling back on the shared ones.
        if items.len() != frames {
            return Err(format!(
                "{}: PerFrameFunctionalGroupsSequence has {} items but NumberOfFrames is {frames}, expected one item per frame",
                input.name,
                items.len()
            ));
        }
        for (f, item) in items.iter().enumerate() {
            let group = |seq| first_item(item, seq).or_else(|| shared.and_then(|s| first_item(s, seq)));
            let position = group(tags::PLANE_POSITION_SEQUENCE);
            let orientation = group(tags::PLANE_ORIENTATION_SEQUENCE);
            let measures = group(tags::PIXEL_MEASURES_SEQUENCE);
            let content = first_item(item, tags::FRAME_CONTENT_SEQUENCE);
            let transform = group(tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE);
            let temporal = content.and_then(|c| int(c, tags::TEMPORAL_POSITION_INDEX)).map(|v| v as f64);
            let trigger = group(tags::CARDIAC_SYNCHRONIZATION_SEQUENCE)
                .and_then(|c| float(c, tags::NOMINAL_CARDIAC_TRIGGER_DELAY_TIME));
            out.push(Frame {
                geom: GeomFrame {
                    label: format!("{} frame {}", input.name, f + 1),
                    ipp: position.and_then(|p| fixed(floats(p, tags::IMAGE_POSITION_PATIENT))).or(base.ipp),
                    iop: orientation.and_then(|p| fixed(floats(p, tags::IMAGE_ORIENTATION_PATIENT))).or(base.iop),
                    spacing: measures.and_then(|p| fixed(floats(p, tags::PIXEL_SPACING))).or(base.spacing),
                    time: [temporal.or(base.time[0]), trigger.or(base.time[1]), base.time[2]],
                },
                input: index,
                frame: f,
                rescale: transform.and_then(rescale_of).unwrap_or(base_rescale),
            });
        }
    } else if frames > 1 {
        // Classic multi-frame: frames stacked along the normal from the file's position, by
        // GridFrameOffsetVector (RT dose) or the slice spacing.
        let offsets = floats(&obj, tags::GRID_FRAME_OFFSET_VECTOR).filter(|v| v.len() == frames);
        let step = thickness.map(|t| t.0);
        for f in 0..frames {
            let along = match (&offsets, step) {
                (Some(o), _) => Some(o[f] - o[0]),
                (None, Some(s)) => Some(s * f as f64),
                (None, None) => None,
            };
            let ipp = match (base.ipp, base.iop, along) {
                (Some(p), Some(o), Some(d)) => {
                    let n = normal(&o);
                    Some(std::array::from_fn(|i| p[i] + n[i] * d))
                }
                _ => None,
            };
            out.push(Frame {
                geom: GeomFrame { label: format!("{} frame {}", input.name, f + 1), ipp, ..base.clone() },
                input: index,
                frame: f,
                rescale: base_rescale,
            });
        }
    } else {
        out.push(Frame { geom: base, input: index, frame: 0, rescale: base_rescale });
    }
    Ok(Header {
        uid: text(&obj, tags::SERIES_INSTANCE_UID).unwrap_or_else(|| "(no SeriesInstanceUID)".into()),
        description: text(&obj, tags::SERIES_DESCRIPTION).unwrap_or_default(),
        modality: text(&obj, tags::MODALITY).unwrap_or_default(),
        rows: rows as usize,
        columns: columns as usize,
        echo: text(&obj, tags::ECHO_NUMBERS),
        thickness,
        frames: out,
    })
}

// ---------------------------------------------------------------------------------------------
// Geometry

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn norm(a: [f64; 3]) -> f64 {
    dot(a, a).sqrt()
}

/// The slice normal: row cosine × column cosine, unit length.
fn normal(iop: &[f64; 6]) -> [f64; 3] {
    let n = cross([iop[0], iop[1], iop[2]], [iop[3], iop[4], iop[5]]);
    let len = norm(n);
    if len > 0.0 {
        n.map(|v| v / len)
    } else {
        n
    }
}

fn same_orientation(a: &[f64; 6], b: &[f64; 6]) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4)
}

fn fmt_pos(p: [f64; 3]) -> String {
    format!("({:.3}, {:.3}, {:.3})", p[0], p[1], p[2])
}

/// How the frames of a series fill the grid.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Layout {
    /// `slots[k][t]`: the frame (index into the frames given) at slice k, time point t.
    pub slots: Vec<Vec<usize>>,
    /// The affine (RAS mm), j flipped as dcm2niix stores rows.
    pub affine: Affine,
    /// Slice spacing used (mm).
    pub slice_spacing: f64,
    /// Assumptions made.
    pub notes: Vec<String>,
}

/// Sorts frames into slices and time points and checks the spacing: the geometry of a series.
/// `thickness` is used only for a single slice.
pub(crate) fn layout(
    frames: &[GeomFrame],
    rows: usize,
    thickness: Option<(f64, &'static str)>,
) -> Result<Layout, ReadError> {
    let mut notes = Vec::new();
    let first = frames.first().ok_or_else(|| err("the series has no frames"))?;
    if frames.len() == 1 && (first.ipp.is_none() || first.iop.is_none()) {
        notes.push(format!(
            "{} has no ImagePositionPatient/ImageOrientationPatient: its position in space is unknown, axes assumed",
            first.label
        ));
    }
    let iop = match first.iop {
        Some(o) => o,
        None if frames.len() == 1 => [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
        None => {
            return Err(err(format!(
                "{} has no ImageOrientationPatient (0020,0037): the slices cannot be ordered",
                first.label
            )))
        }
    };
    let n = normal(&iop);
    if (norm(n) - 1.0).abs() > 1e-3 || norm([iop[0], iop[1], iop[2]]) < 0.5 {
        return Err(err(format!(
            "{}: ImageOrientationPatient {:?} is not two unit vectors at right angles",
            first.label, iop
        )));
    }
    let spacing = match first.spacing {
        Some(s) if s[0] > 0.0 && s[1] > 0.0 => s,
        Some(s) => {
            return Err(err(format!("{}: PixelSpacing {:?}, expected two positive numbers (mm)", first.label, s)))
        }
        None => {
            notes.push(format!("{} has no PixelSpacing (0028,0030): 1 mm pixels assumed", first.label));
            [1.0, 1.0]
        }
    };
    let mut positions = Vec::with_capacity(frames.len());
    for f in frames {
        let o = f.iop.unwrap_or(iop);
        if !same_orientation(&o, &iop) {
            return Err(err(format!(
                "{} has ImageOrientationPatient {:?} but {} has {:?}: one series must have one orientation",
                f.label, o, first.label, iop
            )));
        }
        if let Some(s) = f.spacing {
            if (s[0] - spacing[0]).abs() > 1e-4 * spacing[0] || (s[1] - spacing[1]).abs() > 1e-4 * spacing[1] {
                return Err(err(format!(
                    "{} has PixelSpacing {:?} but {} has {:?}: the series mixes pixel sizes",
                    f.label, s, first.label, spacing
                )));
            }
        }
        let p = match f.ipp {
            Some(p) => p,
            None if frames.len() == 1 => [0.0; 3],
            None => {
                return Err(err(format!(
                    "{} has no ImagePositionPatient (0020,0032): the slices cannot be ordered",
                    f.label
                )))
            }
        };
        positions.push(p);
    }

    // Sort by the projection on the normal and group equal positions (time points).
    let mut order: Vec<usize> = (0..frames.len()).collect();
    let proj: Vec<f64> = positions.iter().map(|p| dot(*p, n)).collect();
    order.sort_by(|&a, &b| proj[a].total_cmp(&proj[b]).then(a.cmp(&b)));
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for &i in &order {
        match groups.last_mut() {
            Some(g) if (proj[i] - proj[g[0]]).abs() <= 0.01 => g.push(i),
            _ => groups.push(vec![i]),
        }
    }
    // Time order within each position.
    let time_cmp = |a: &GeomFrame, b: &GeomFrame| {
        let key = |f: &GeomFrame| f.time.map(|t| t.unwrap_or(f64::NEG_INFINITY));
        let (ka, kb) = (key(a), key(b));
        ka.iter().zip(&kb).map(|(x, y)| x.total_cmp(y)).find(|o| o.is_ne()).unwrap_or(std::cmp::Ordering::Equal)
    };
    for g in &mut groups {
        g.sort_by(|&a, &b| time_cmp(&frames[a], &frames[b]).then(a.cmp(&b)));
        for w in g.windows(2) {
            if time_cmp(&frames[w[0]], &frames[w[1]]).is_eq() {
                return Err(err(format!(
                    "duplicate slice position: {} and {} are both at {} mm and no TemporalPositionIdentifier, TriggerTime or AcquisitionNumber tells them apart (a copied file, or two series mixed in one folder?)",
                    frames[w[0]].label,
                    frames[w[1]].label,
                    fmt_pos(positions[w[0]])
                )));
            }
        }
    }
    let times = groups[0].len();
    if let Some(g) = groups.iter().find(|g| g.len() != times) {
        return Err(err(format!(
            "the slice positions have different numbers of time points: {} mm has {} ({}) but {} mm has {} ({}); a file is missing from one of the time points",
            fmt_pos(positions[groups[0][0]]),
            times,
            frames[groups[0][0]].label,
            fmt_pos(positions[g[0]]),
            g.len(),
            frames[g[0]].label
        )));
    }

    // Tilt: every slice must sit on the line through the first along the normal.
    let p0 = positions[groups[0][0]];
    for g in &groups[1..] {
        let d: [f64; 3] = std::array::from_fn(|i| positions[g[0]][i] - p0[i]);
        let along = dot(d, n);
        let off = norm(std::array::from_fn(|i| d[i] - along * n[i]));
        if off > 0.01 + 0.002 * along.abs() {
            let angle = off.atan2(along.abs()).to_degrees();
            return Err(err(format!(
                "gantry tilt or sheared stack: {} at {} mm is {off:.3} mm off the slice normal through {} at {} mm ({angle:.2}°); tilted series are not supported yet (dcm2niix can correct them)",
                frames[g[0]].label,
                fmt_pos(positions[g[0]]),
                frames[groups[0][0]].label,
                fmt_pos(p0)
            )));
        }
    }

    // Spacing: regular gaps, no slice missing.
    let slice_spacing = if groups.len() == 1 {
        match thickness {
            Some((t, what)) => {
                notes.push(format!("a single slice: its thickness is {what} ({t} mm)"));
                t
            }
            None => {
                notes.push(
                    "a single slice without SpacingBetweenSlices or SliceThickness: 1 mm thickness assumed".into(),
                );
                1.0
            }
        }
    } else {
        let gaps: Vec<f64> = groups.windows(2).map(|w| proj[w[1][0]] - proj[w[0][0]]).collect();
        let mut sorted = gaps.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        for (w, gap) in groups.windows(2).zip(&gaps) {
            if (gap - median).abs() > 0.01 * median {
                let (a, b) = (w[0][0], w[1][0]);
                let ratio = gap / median;
                let what = if ratio > 1.5 && (ratio - ratio.round()).abs() < 0.1 {
                    format!(
                        "a slice is missing: the gap between {} at {} mm and {} at {} mm is {gap:.3} mm, {:.0}× the usual {median:.3} mm",
                        frames[a].label,
                        fmt_pos(positions[a]),
                        frames[b].label,
                        fmt_pos(positions[b]),
                        ratio.round()
                    )
                } else {
                    format!(
                        "irregular slice spacing: the gap between {} at {} mm and {} at {} mm is {gap:.3} mm, but the usual gap is {median:.3} mm (mean {mean:.3} mm); gaps must agree within 1%",
                        frames[a].label,
                        fmt_pos(positions[a]),
                        frames[b].label,
                        fmt_pos(positions[b])
                    )
                };
                return Err(err(what));
            }
        }
        (proj[groups[groups.len() - 1][0]] - proj[groups[0][0]]) / (groups.len() - 1) as f64
    };

    // LPS columns: i along the row cosine, j along the column cosine, k along the normal; then
    // flip j (rows stored bottom first, as dcm2niix) and negate x, y for RAS.
    let r = [iop[0], iop[1], iop[2]].map(|v| v * spacing[1]);
    let c = [iop[3], iop[4], iop[5]].map(|v| v * spacing[0]);
    let k = n.map(|v| v * slice_spacing);
    let last_row = rows.saturating_sub(1) as f64;
    let origin: [f64; 3] = std::array::from_fn(|i| p0[i] + c[i] * last_row);
    let mut affine = [[0.0; 4]; 4];
    for i in 0..3 {
        let sign = if i < 2 { -1.0 } else { 1.0 };
        affine[i] = [sign * r[i], -sign * c[i], sign * k[i], sign * origin[i]];
    }
    affine[3] = [0.0, 0.0, 0.0, 1.0];
    let slots = groups;
    Ok(Layout { slots, affine, slice_spacing, notes })
}

// ---------------------------------------------------------------------------------------------
// Listing

/// Finds the image series among `inputs` from their headers (pixel data is not read). Returns the
/// series (in the order of their first file) and, for each file skipped, why. Files of one
/// SeriesInstanceUID with different orientations, echoes or frame sizes become separate entries.
pub fn list_dicom_series(inputs: &[DicomInput]) -> Result<(Vec<DicomSeries>, Vec<String>), ReadError> {
    let (groups, skipped) = group_headers(inputs);
    if groups.is_empty() {
        let found = if skipped.is_empty() { "no files".to_owned() } else { skipped.join("; ") };
        return Err(err(format!("no DICOM image series among the {} file(s): {found}", inputs.len())));
    }
    let series = groups
        .into_iter()
        .map(|g| {
            let frames: Vec<GeomFrame> = g.iter().flat_map(|h| h.1.frames.iter().map(|f| f.geom.clone())).collect();
            let h = &g[0].1;
            let (slices, per) = match layout(&frames, h.rows, h.thickness) {
                Ok(l) => (l.slots.len(), l.slots[0].len()),
                Err(_) => (frames.len(), 1),
            };
            DicomSeries {
                uid: h.uid.clone(),
                description: h.description.clone(),
                modality: h.modality.clone(),
                rows: h.rows,
                columns: h.columns,
                slices,
                frames_per_slice: per,
                files: g.iter().map(|h| h.0).collect(),
            }
        })
        .collect();
    Ok((series, skipped))
}

type Groups = Vec<Vec<(usize, Header)>>;

fn group_headers(inputs: &[DicomInput]) -> (Groups, Vec<String>) {
    let mut skipped = Vec::new();
    let mut keys: BTreeMap<(String, String, Option<String>, usize, usize), usize> = BTreeMap::new();
    let mut groups: Groups = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        match header(i, input) {
            Ok(h) => {
                let iop = h.frames[0]
                    .geom
                    .iop
                    .map(|o| format!("{:?}", o.map(|v| (v * 1e3).round() as i64)))
                    .unwrap_or_default();
                let key = (h.uid.clone(), iop, h.echo.clone(), h.rows, h.columns);
                let next = groups.len();
                let g = *keys.entry(key).or_insert(next);
                if g == next {
                    groups.push(Vec::new());
                }
                groups[g].push((i, h));
            }
            Err(reason) => skipped.push(reason),
        }
    }
    (groups, skipped)
}

// ---------------------------------------------------------------------------------------------
// Reading

fn transfer_syntax_name(uid: &str) -> &'static str {
    match uid {
        "1.2.840.10008.1.2" => "Implicit VR Little Endian",
        "1.2.840.10008.1.2.1" => "Explicit VR Little Endian",
        "1.2.840.10008.1.2.1.99" => "Deflated Explicit VR Little Endian",
        "1.2.840.10008.1.2.2" => "Explicit VR Big Endian",
        "1.2.840.10008.1.2.4.50" => "JPEG Baseline",
        "1.2.840.10008.1.2.4.51" => "JPEG Extended",
        "1.2.840.10008.1.2.4.57" | "1.2.840.10008.1.2.4.70" => "JPEG Lossless",
        "1.2.840.10008.1.2.4.80" => "JPEG-LS Lossless",
        "1.2.840.10008.1.2.4.81" => "JPEG-LS Near-Lossless",
        "1.2.840.10008.1.2.4.90" => "JPEG 2000 Lossless",
        "1.2.840.10008.1.2.4.91" => "JPEG 2000",
        "1.2.840.10008.1.2.4.201" | "1.2.840.10008.1.2.4.202" | "1.2.840.10008.1.2.4.203" => {
            "High-Throughput JPEG 2000"
        }
        "1.2.840.10008.1.2.4.110" | "1.2.840.10008.1.2.4.111" | "1.2.840.10008.1.2.4.112" => "JPEG XL",
        "1.2.840.10008.1.2.5" => "RLE Lossless",
        u if u.starts_with("1.2.840.10008.1.2.4.10") => "MPEG video",
        _ => "an unknown transfer syntax",
    }
}

/// Output voxels being filled.
enum Out {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    F32(Vec<f32>),
}

fn zeroed<T: Clone + Default>(n: usize, bytes: u64) -> Result<Vec<T>, ReadError> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| ReadError::OutOfMemory { bytes })?;
    v.resize(n, T::default());
    Ok(v)
}

impl Out {
    fn new(datatype: Datatype, n: usize) -> Result<Out, ReadError> {
        let bytes = n as u64 * datatype.bytes_per_voxel() as u64;
        Ok(match datatype {
            Datatype::U8 => Out::U8(zeroed(n, bytes)?),
            Datatype::I8 => Out::I8(zeroed(n, bytes)?),
            Datatype::U16 => Out::U16(zeroed(n, bytes)?),
            Datatype::I16 => Out::I16(zeroed(n, bytes)?),
            Datatype::U32 => Out::U32(zeroed(n, bytes)?),
            Datatype::I32 => Out::I32(zeroed(n, bytes)?),
            _ => Out::F32(zeroed(n, bytes)?),
        })
    }

    fn put(&mut self, i: usize, v: i64, rescale: (f64, f64)) {
        match self {
            Out::U8(d) => d[i] = v as u8,
            Out::I8(d) => d[i] = v as i8,
            Out::U16(d) => d[i] = v as u16,
            Out::I16(d) => d[i] = v as i16,
            Out::U32(d) => d[i] = v as u32,
            Out::I32(d) => d[i] = v as i32,
            Out::F32(d) => d[i] = (v as f64 * rescale.0 + rescale.1) as f32,
        }
    }

    fn into_voxels(self) -> VoxelData {
        match self {
            Out::U8(d) => VoxelData::U8(d),
            Out::I8(d) => VoxelData::I8(d),
            Out::U16(d) => VoxelData::U16(d),
            Out::I16(d) => VoxelData::I16(d),
            Out::U32(d) => VoxelData::U32(d),
            Out::I32(d) => VoxelData::I32(d),
            Out::F32(d) => VoxelData::F32(d),
        }
    }
}

/// How samples are stored, shared by every file of the series.
#[derive(Clone, Copy, Debug, PartialEq)]
struct PixelFormat {
    bits_allocated: u16,
    bits_stored: u16,
    signed: bool,
    monochrome1: bool,
}

impl PixelFormat {
    fn of(obj: &Obj, name: &str) -> Result<PixelFormat, ReadError> {
        if obj.get(tags::FLOAT_PIXEL_DATA).is_some() || obj.get(tags::DOUBLE_FLOAT_PIXEL_DATA).is_some() {
            return Err(err(format!("{name}: float pixel data (7FE0,0008/0009) is not supported yet")));
        }
        let spp = int(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1);
        if spp != 1 {
            return Err(err(format!(
                "{name}: SamplesPerPixel is {spp} (colour, {}); medseg reads greyscale DICOM (1 sample per pixel) only, colour is not supported yet",
                text(obj, tags::PHOTOMETRIC_INTERPRETATION).unwrap_or_default()
            )));
        }
        let bits_allocated =
            int(obj, tags::BITS_ALLOCATED).ok_or_else(|| err(format!("{name}: no BitsAllocated (0028,0100)")))?;
        if ![8, 16, 32].contains(&bits_allocated) {
            return Err(err(format!(
                "{name}: BitsAllocated is {bits_allocated}, expected 8, 16 or 32 ({}-bit pixel data is not supported yet)",
                bits_allocated
            )));
        }
        let bits_stored = int(obj, tags::BITS_STORED).unwrap_or(bits_allocated);
        if !(1..=bits_allocated).contains(&bits_stored) {
            return Err(err(format!(
                "{name}: BitsStored is {bits_stored}, expected 1 to BitsAllocated ({bits_allocated})"
            )));
        }
        let photometric = text(obj, tags::PHOTOMETRIC_INTERPRETATION).unwrap_or_else(|| "MONOCHROME2".into());
        Ok(PixelFormat {
            bits_allocated: bits_allocated as u16,
            bits_stored: bits_stored as u16,
            signed: int(obj, tags::PIXEL_REPRESENTATION).unwrap_or(0) == 1,
            monochrome1: photometric == "MONOCHROME1",
        })
    }

    fn datatype(&self) -> Datatype {
        match (self.bits_allocated, self.signed) {
            (8, false) => Datatype::U8,
            (8, true) => Datatype::I8,
            (16, false) => Datatype::U16,
            (16, true) => Datatype::I16,
            (_, false) => Datatype::U32,
            (_, true) => Datatype::I32,
        }
    }

    /// The stored value of sample `i` of `data` (native-endian samples as decoded).
    fn sample(&self, data: &[u8], i: usize) -> i64 {
        let raw: u64 = match self.bits_allocated {
            8 => data[i] as u64,
            16 => u16::from_ne_bytes([data[2 * i], data[2 * i + 1]]) as u64,
            _ => u32::from_ne_bytes([data[4 * i], data[4 * i + 1], data[4 * i + 2], data[4 * i + 3]]) as u64,
        };
        let bits = self.bits_stored as u32;
        let masked = if bits >= 64 { raw } else { raw & ((1u64 << bits) - 1) };
        let v =
            if self.signed && masked >> (bits - 1) & 1 == 1 { masked as i64 - (1i64 << bits) } else { masked as i64 };
        if self.monochrome1 {
            // max − value over the stored range: keeps the type, makes larger brighter.
            if self.signed {
                -1 - v
            } else {
                ((1i64 << bits) - 1) - v
            }
        } else {
            v
        }
    }
}

/// Decodes all frames of one file: native-endian samples, `bits_allocated` wide.
fn decode(
    obj: &FileDicomObject<Obj>,
    name: &str,
    rows: usize,
    columns: usize,
    frames: usize,
    format: &PixelFormat,
) -> Result<Vec<u8>, ReadError> {
    let uid = obj.meta().transfer_syntax.trim_end_matches('\0').trim().to_owned();
    let ts_name = transfer_syntax_name(&uid);
    let ts = TransferSyntaxRegistry.get(&uid);
    let supported = ts.is_some_and(|t| t.can_decode_all());
    if !supported {
        return Err(err(format!(
            "{name}: transfer syntax {uid} ({ts_name}) is not supported yet; convert the series to an uncompressed or JPEG/JPEG 2000/RLE transfer syntax (e.g. with gdcmconv --raw or dcmdjpls) or to NIfTI with dcm2niix"
        )));
    }
    let pixel = obj
        .get(tags::PIXEL_DATA)
        .ok_or_else(|| err(format!("{name}: no PixelData (7FE0,0010), expected the image's pixels")))?;
    let frame_bytes = rows * columns * (format.bits_allocated as usize / 8);
    let expected = frame_bytes as u64 * frames as u64;
    match pixel.value() {
        dicom_core::DicomValue::Primitive(p) => {
            let got = p.calculate_byte_len() as u64;
            if got < expected {
                return Err(err(format!(
                    "{name}: PixelData holds {got} bytes but Rows × Columns × NumberOfFrames ({rows} × {columns} × {frames}) at {} bits needs {expected}; the file is probably truncated",
                    format.bits_allocated
                )));
            }
        }
        dicom_core::DicomValue::PixelSequence(seq) => {
            // Each frame needs at least one fragment.
            let fragments = seq.fragments().len();
            if fragments < frames.max(1) {
                return Err(err(format!(
                    "{name}: the encapsulated PixelData has {fragments} fragment(s) for {frames} frame(s), expected at least one per frame; the file is probably truncated"
                )));
            }
        }
        _ => return Err(err(format!("{name}: PixelData is a sequence, expected pixel values"))),
    }
    let decoded = obj
        .decode_pixel_data()
        .map_err(|e| err(format!("{name}: the pixel data ({ts_name}, {uid}) could not be decoded: {e}")))?;
    let data = decoded.data();
    let decoded_bits = decoded.bits_allocated();
    if decoded_bits != format.bits_allocated {
        return Err(err(format!(
            "{name}: the decoded pixel data has {decoded_bits} bits per sample but BitsAllocated is {}",
            format.bits_allocated
        )));
    }
    if (data.len() as u64) < expected {
        return Err(err(format!(
            "{name}: the decoded pixel data holds {} bytes, Rows × Columns × NumberOfFrames ({rows} × {columns} × {frames}) needs {expected}; the file is probably truncated",
            data.len()
        )));
    }
    Ok(data[..expected as usize].to_vec())
}

/// The files of a folder, a zip or a drop (path and bytes), with the DICOM image series among
/// them listed once: what `medseg info DIR` / `convert DIR` and the page's scan worker both hold.
pub struct DicomFiles {
    files: Vec<(String, Vec<u8>)>,
    /// The image series found.
    pub series: Vec<DicomSeries>,
    /// The files left out, each with why (not DICOM, DICOMDIR, not an image, …).
    pub skipped: Vec<String>,
}

impl DicomFiles {
    /// Lists the series among `files`; an error when there is none (saying what was found instead).
    pub fn list(files: Vec<(String, Vec<u8>)>) -> Result<DicomFiles, ReadError> {
        let (series, skipped) = list_dicom_series(&inputs_of(&files))?;
        Ok(DicomFiles { files, series, skipped })
    }

    /// Reads series `index` (of `series`) as a scan.
    pub fn read(&self, index: usize, limits: ReadLimits) -> Result<Volume, ReadError> {
        let series = self.series.get(index).ok_or_else(|| {
            ReadError::Dicom(format!(
                "there is no series {index}; the files hold {} (0 to {})",
                self.series.len(),
                self.series.len().saturating_sub(1)
            ))
        })?;
        read_dicom_series(&inputs_of(&self.files), series, limits)
    }
}

fn inputs_of(files: &[(String, Vec<u8>)]) -> Vec<DicomInput<'_>> {
    files.iter().map(|(name, bytes)| DicomInput { name, bytes }).collect()
}

/// Reads one series found by [`list_dicom_series`] from the same inputs.
pub fn read_dicom_series(inputs: &[DicomInput], series: &DicomSeries, limits: ReadLimits) -> Result<Volume, ReadError> {
    let mut headers = Vec::with_capacity(series.files.len());
    for &i in &series.files {
        let input = inputs
            .get(i)
            .ok_or_else(|| err(format!("the series names file {i} but only {} file(s) were given", inputs.len())))?;
        headers.push(header(i, input).map_err(err)?);
    }
    let first = headers.first().ok_or_else(|| err("the series has no files"))?;
    let (rows, columns) = (first.rows, first.columns);
    if let Some(h) = headers.iter().find(|h| (h.rows, h.columns) != (rows, columns)) {
        return Err(err(format!(
            "{} is {}×{} pixels but {} is {rows}×{columns}: one series must have one frame size",
            h.frames[0].geom.label, h.columns, h.rows, first.frames[0].geom.label
        )));
    }
    let frames: Vec<&Frame> = headers.iter().flat_map(|h| h.frames.iter()).collect();
    let geoms: Vec<GeomFrame> = frames.iter().map(|f| f.geom.clone()).collect();
    let layout = layout(&geoms, rows, first.thickness)?;
    let (nz, nt) = (layout.slots.len(), layout.slots[0].len());
    let mut notes = vec![format!(
        "DICOM series {:?} ({}): {nz} slice(s){} from {} file(s), slice spacing {:.4} mm",
        first.description,
        if first.modality.is_empty() { "modality unknown" } else { &first.modality },
        if nt > 1 { format!(" × {nt} time points") } else { String::new() },
        headers.len(),
        layout.slice_spacing
    )];
    notes.extend(layout.notes.iter().cloned());

    // Where each frame goes: (input, frame) → (k, t).
    let mut place: BTreeMap<(usize, usize), (usize, usize)> = BTreeMap::new();
    for (k, slot) in layout.slots.iter().enumerate() {
        for (t, &f) in slot.iter().enumerate() {
            place.insert((frames[f].input, frames[f].frame), (k, t));
        }
    }
    let rescale0 = frames[0].rescale;
    let shared_rescale = frames.iter().all(|f| f.rescale == rescale0);

    // The pixel format of the first file decides the datatype; all must agree.
    let mut format: Option<PixelFormat> = None;
    let mut out: Option<Out> = None;
    let plane = rows * columns;
    let per_volume = plane * nz;
    for h in &headers {
        let input = &inputs[h.frames[0].input];
        let obj = parse(input, false).map_err(err)?;
        let this = PixelFormat::of(&obj, input.name)?;
        let fmt = *format.get_or_insert(this);
        if this != fmt {
            return Err(err(format!(
                "{} stores pixels as {:?} but {} as {:?}: one series must share BitsAllocated, BitsStored, PixelRepresentation and PhotometricInterpretation",
                input.name, this, inputs[series.files[0]].name, fmt
            )));
        }
        if out.is_none() {
            let datatype = if shared_rescale { fmt.datatype() } else { Datatype::F32 };
            let dims = [columns as i64, rows as i64, nz as i64, nt as i64];
            within_budget(&dims, datatype, limits)?;
            within_budget(&dims, fmt.datatype(), limits)?;
            out = Some(Out::new(datatype, per_volume * nt)?);
        }
        let data = decode(&obj, input.name, rows, columns, h.frames.len(), &fmt)?;
        drop(obj);
        let target = out.as_mut().expect("allocated above");
        for f in &h.frames {
            let (k, t) = place[&(f.input, f.frame)];
            let base = t * per_volume + k * plane;
            let src = f.frame * plane;
            for r in 0..rows {
                // Rows stored bottom first (dcm2niix's flip): DICOM row r → j = rows − 1 − r.
                let dst = base + (rows - 1 - r) * columns;
                for c in 0..columns {
                    target.put(dst + c, fmt.sample(&data, src + r * columns + c), f.rescale);
                }
            }
        }
    }
    let fmt = format.expect("at least one file");
    if fmt.monochrome1 {
        notes.push("MONOCHROME1: values inverted (max − value over BitsStored) so that larger is brighter".into());
    }
    let out = out.expect("allocated above");
    let datatype = if shared_rescale { fmt.datatype() } else { Datatype::F32 };
    let scaling = if shared_rescale && rescale0 != (1.0, 0.0) { Some(rescale0) } else { None };
    if !shared_rescale {
        notes.push("RescaleSlope/RescaleIntercept differ between slices: values rescaled to float32".into());
    }
    let mut dims = vec![columns, rows, nz];
    if nt > 1 {
        dims.push(nt);
    }
    Ok(Volume {
        dims,
        datatype,
        voxels: out.into_voxels(),
        scaling,
        geometry: Geometry::from_affine(layout.affine, SOURCE),
        description: first.description.clone(),
        notes,
        format: ScanFormat::Dicom,
    })
}

/// Reads one DICOM file on its own: one slice, or all frames of a multi-frame object.
pub fn read_dicom_file(bytes: &[u8], limits: ReadLimits) -> Result<Volume, ReadError> {
    let inputs = [DicomInput { name: "the file", bytes }];
    let (series, _) = list_dicom_series(&inputs)?;
    read_dicom_series(&inputs, &series[0], limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AXIAL: [f64; 6] = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0];

    fn frame(label: &str, ipp: [f64; 3], iop: [f64; 6]) -> GeomFrame {
        GeomFrame { label: label.into(), ipp: Some(ipp), iop: Some(iop), spacing: Some([0.5, 0.8]), time: [None; 3] }
    }

    fn stack(zs: &[f64]) -> Vec<GeomFrame> {
        zs.iter().enumerate().map(|(i, &z)| frame(&format!("f{i}"), [10.0, 20.0, z], AXIAL)).collect()
    }

    fn message(e: ReadError) -> String {
        e.to_string()
    }

    #[test]
    fn sorts_along_the_normal_and_measures_spacing() {
        let frames = stack(&[4.0, 0.0, 2.0, 6.0]);
        let l = layout(&frames, 10, Some((5.0, "SliceThickness"))).unwrap();
        assert_eq!(l.slots, vec![vec![1], vec![2], vec![0], vec![3]]);
        assert!((l.slice_spacing - 2.0).abs() < 1e-12, "spacing from positions, not SliceThickness");
        // LPS → RAS, j flipped: origin at the last row of the first slice.
        let expected =
            [[-0.8, 0.0, 0.0, -10.0], [0.0, 0.5, 0.0, -(20.0 + 0.5 * 9.0)], [0.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 1.0]];
        for (row, want) in l.affine.iter().zip(&expected) {
            for (v, w) in row.iter().zip(want) {
                assert!((v - w).abs() < 1e-12, "{:?}", l.affine);
            }
        }
    }

    #[test]
    fn oblique_and_reversed_normal() {
        // Coronal: rows along x, columns along -z; normal = x × -z = +y.
        let iop = [1.0, 0.0, 0.0, 0.0, 0.0, -1.0];
        let frames: Vec<GeomFrame> =
            [3.0, 1.0, 2.0].iter().map(|&y| frame(&format!("y{y}"), [0.0, y, 0.0], iop)).collect();
        let l = layout(&frames, 4, None).unwrap();
        assert_eq!(l.slots, vec![vec![1], vec![2], vec![0]]);
        // k column: +y in LPS → −y in RAS, 1 mm.
        assert!((l.affine[1][2] + 1.0).abs() < 1e-12);
        // j column: −(column cosine × 0.5) in LPS = +z·0.5 → RAS z unchanged.
        assert!((l.affine[2][1] - 0.5).abs() < 1e-12);
        // origin: first slice moved to its last row: z = 0 − 0.5·3.
        assert!((l.affine[2][3] + 1.5).abs() < 1e-12);
        assert!((l.affine[1][3] + 1.0).abs() < 1e-12);
    }

    #[test]
    fn single_slice_uses_thickness_with_a_note() {
        let l = layout(&stack(&[7.0]), 10, Some((3.0, "SpacingBetweenSlices"))).unwrap();
        assert_eq!(l.slice_spacing, 3.0);
        assert!(l.notes.iter().any(|n| n.contains("SpacingBetweenSlices")));
        let l = layout(&stack(&[7.0]), 10, None).unwrap();
        assert_eq!(l.slice_spacing, 1.0);
    }

    #[test]
    fn missing_slice_is_named() {
        let e = message(layout(&stack(&[0.0, 2.0, 4.0, 8.0, 10.0]), 4, None).unwrap_err());
        assert!(e.contains("a slice is missing"), "{e}");
        assert!(e.contains("f2") && e.contains("f3"), "{e}");
    }

    #[test]
    fn irregular_spacing_is_refused() {
        let e = message(layout(&stack(&[0.0, 2.0, 4.0, 6.5, 8.5]), 4, None).unwrap_err());
        assert!(e.contains("irregular slice spacing"), "{e}");
        // Within 1%: accepted.
        layout(&stack(&[0.0, 2.0, 4.01, 6.0]), 4, None).unwrap();
    }

    #[test]
    fn duplicates_refused_unless_time_tells_them_apart() {
        let mut frames = stack(&[0.0, 2.0, 2.0, 4.0]);
        let e = message(layout(&frames, 4, None).unwrap_err());
        assert!(e.contains("duplicate slice position") && e.contains("f1") && e.contains("f2"), "{e}");
        // Two time points at every position → 4D.
        frames = stack(&[0.0, 2.0, 4.0, 0.0, 2.0, 4.0]);
        for (i, f) in frames.iter_mut().enumerate() {
            f.time[2] = Some((i / 3) as f64 + 1.0);
        }
        let l = layout(&frames, 4, None).unwrap();
        assert_eq!(l.slots, vec![vec![0, 3], vec![1, 4], vec![2, 5]]);
        // A position missing in one time point.
        frames.pop();
        let e = message(layout(&frames, 4, None).unwrap_err());
        assert!(e.contains("different numbers of time points"), "{e}");
    }

    #[test]
    fn gantry_tilt_is_refused() {
        let frames: Vec<GeomFrame> =
            (0..4).map(|i| frame(&format!("t{i}"), [0.0, 0.3 * i as f64, 2.0 * i as f64], AXIAL)).collect();
        let e = message(layout(&frames, 4, None).unwrap_err());
        assert!(e.contains("gantry tilt"), "{e}");
    }

    #[test]
    fn mixed_orientation_is_refused() {
        let mut frames = stack(&[0.0, 2.0]);
        frames[1].iop = Some([0.0, 1.0, 0.0, 0.0, 0.0, -1.0]);
        let e = message(layout(&frames, 4, None).unwrap_err());
        assert!(e.contains("one orientation"), "{e}");
    }

    #[test]
    fn samples_apply_bits_stored_sign_and_monochrome1() {
        let f = PixelFormat { bits_allocated: 16, bits_stored: 12, signed: true, monochrome1: false };
        assert_eq!(f.sample(&0x0FFFu16.to_ne_bytes(), 0), -1);
        assert_eq!(f.sample(&0xF7FFu16.to_ne_bytes(), 0), 2047);
        let u = PixelFormat { bits_allocated: 16, bits_stored: 12, signed: false, monochrome1: true };
        assert_eq!(u.sample(&0x0001u16.to_ne_bytes(), 0), 4094);
    }

    #[test]
    fn non_dicom_bytes_are_named() {
        assert!(dicm_offset(b"hello").unwrap_err().contains("not a DICOM file"));
        let e = list_dicom_series(&[DicomInput { name: "notes.txt", bytes: &[b'x'; 300] }]).unwrap_err();
        assert!(e.to_string().contains("no DICOM image series") && e.to_string().contains("notes.txt"), "{e}");
    }
}
