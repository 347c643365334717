//! The JavaScript API (wasm32 only): the only module that knows about JS. The page's Web
//! Worker calls these to decode scans and encode label maps.

mod alloc;
mod libc;
pub mod medsam;
pub mod mesh;
#[cfg(feature = "threads")]
pub mod threads;

use std::sync::Arc;

use wasm_bindgen::prelude::*;

use crate::engine::gpu::{Accelerator, Backend};
use crate::info::ScanInfo;
use crate::labels::{LabelMap, LabelTable};
use crate::models::manifest::Manifest;
use crate::models::Model;
use crate::segment::Segmenter as SegmentRunner;
use crate::volume::intensity::voxel_quantiles;
use crate::volume::resample::Grid;
use crate::volume::{
    read_nifti_pair, read_nrrd_detached, read_scan, Datatype, DicomFiles, Geometry, HeaderGeometry, ReadError,
    ReadLimits, ScanFormat, Volume, VoxelData,
};

/// Installs a panic hook that reports Rust panics on the JS console.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// A decoded scan held in wasm memory.
#[wasm_bindgen]
pub struct Scan {
    pub(crate) volume: Volume,
}

#[wasm_bindgen]
impl Scan {
    /// Decodes a single-file scan, by its content: `.nii`/`.nii.gz` (NIfTI-1 or -2), `.mgh`/`.mgz`
    /// or `.nrrd`.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8]) -> Result<Scan, JsError> {
        Ok(Scan { volume: read_scan(bytes, ReadLimits::default())? })
    }

    /// Decodes an NRRD detached header (`.nhdr`) with the bytes of the data file it names.
    #[wasm_bindgen(js_name = fromNrrdDetached)]
    pub fn from_nrrd_detached(header: &[u8], data: &[u8]) -> Result<Scan, JsError> {
        Ok(Scan { volume: read_nrrd_detached(header, data, ReadLimits::default())? })
    }

    /// Decodes a `.hdr` + `.img` pair (either may be gzipped).
    #[wasm_bindgen(js_name = fromPair)]
    pub fn from_pair(hdr: &[u8], img: &[u8]) -> Result<Scan, JsError> {
        Ok(Scan { volume: read_nifti_pair(hdr, img, ReadLimits::default())? })
    }

    /// Rebuilds a scan from the voxels of another worker's scan (its `modelVoxels()`, the
    /// stored values as bytes) and that scan's `geometryJson()`: no file decoding, and the
    /// voxels stay in their stored type (an int16 CT travels and stays at 2 bytes a voxel).
    #[wasm_bindgen(js_name = fromVoxels)]
    pub fn from_voxels(geometry_json: &str, bytes: Vec<u8>) -> Result<Scan, JsError> {
        let TransferredGeometry { dims, header, held, scaling } = serde_json::from_str(geometry_json)
            .map_err(|e| JsError::new(&format!("not a scan's geometryJson(): {e}")))?;
        let datatype = Datatype::from_code(held)?;
        let expected = dims.iter().try_fold(datatype.bytes_per_voxel(), |n, &d| n.checked_mul(d));
        if dims.contains(&0) || expected != Some(bytes.len()) {
            return Err(JsError::new(&format!(
                "{} bytes are not a {}×{}×{} grid of {}",
                bytes.len(),
                dims[0],
                dims[1],
                dims[2],
                datatype.name()
            )));
        }
        let mut notes = Vec::new();
        let geometry = Geometry::from_header(header, &dims, &mut notes)?;
        let volume = Volume {
            dims: dims.to_vec(),
            datatype,
            voxels: VoxelData::decode(bytes, datatype, false)
                .map_err(|bytes| JsError::new(&ReadError::OutOfMemory { bytes }.to_string()))?,
            scaling,
            geometry,
            description: String::new(),
            notes,
            // Rebuilt from another worker's voxels for a model run: nothing is saved from it.
            format: ScanFormat::Nifti1,
        };
        Ok(Scan { volume })
    }

    /// Volume 0's voxels in their stored type, as little-endian bytes (see `fromVoxels`).
    #[wasm_bindgen(js_name = modelVoxels)]
    pub fn model_voxels(&self) -> Result<js_sys::Uint8Array, JsError> {
        let range = self.volume.volume_range(0)?;
        Ok(js_sys::Uint8Array::from(&self.volume.voxels.le_bytes(range)[..]))
    }

    /// What `fromVoxels` needs besides the voxels: `{"dims": [nx, ny, nz], "header": …, "held":
    /// datatype code, "scaling": [slope, inter] | null}` (the verbatim geometry fields, so the
    /// rebuilt scan's affine is exactly this one's).
    #[wasm_bindgen(js_name = geometryJson)]
    pub fn geometry_json(&self) -> Result<String, JsError> {
        let geometry = TransferredGeometry {
            dims: self.volume.shape3(),
            header: self.volume.geometry.header.clone(),
            held: self.volume.voxels.held_datatype().code(),
            scaling: self.volume.scaling,
        };
        serde_json::to_string(&geometry).map_err(|e| JsError::new(&format!("the scan's geometry: {e}")))
    }

    /// Header summary as JSON (see `ScanInfo`).
    #[wasm_bindgen(js_name = infoJson)]
    pub fn info_json(&self) -> String {
        ScanInfo::of(&self.volume).to_json()
    }

    /// 3D volume `index` as scaled float32 values, x fastest; filled a few million voxels at
    /// a time, so wasm memory never holds a float copy of the whole volume.
    #[wasm_bindgen(js_name = volumeF32)]
    pub fn volume_f32(&self, index: usize) -> Result<js_sys::Float32Array, JsError> {
        const CHUNK: usize = 1 << 22;
        let range = self.volume.volume_range(index)?;
        let out = js_sys::Float32Array::new_with_length(range.len() as u32);
        for start in range.clone().step_by(CHUNK) {
            let end = (start + CHUNK).min(range.end);
            let part = self.volume.voxels.to_f32(start..end, self.volume.scaling);
            out.subarray((start - range.start) as u32, (end - range.start) as u32).copy_from(&part);
        }
        Ok(out)
    }

    /// Values at the given fractions (0–1) of volume `index`'s sorted finite values
    /// (e.g. `[0.005, 0.995]` for an automatic MR window); empty when no value is finite.
    pub fn quantiles(&self, index: usize, fractions: Vec<f64>) -> Result<Vec<f32>, JsError> {
        let range = self.volume.volume_range(index)?;
        Ok(voxel_quantiles(&self.volume.voxels, range, self.volume.scaling, &fractions).unwrap_or_default())
    }

    /// Volume `index` as a label map (rounded to integers), for overlays.
    #[wasm_bindgen(js_name = labelValues)]
    pub fn label_values(&self, index: usize) -> Result<Vec<u16>, JsError> {
        Ok(LabelMap::from_volume(&self.volume, index)?.values)
    }

    /// Refuses a label map that is not on this scan's grid (same size, affines within 0.001 mm),
    /// as `medseg eval` does: a reference on another grid cannot be compared voxel by voxel.
    #[wasm_bindgen(js_name = checkSameGrid)]
    pub fn check_same_grid(&self, other: &Scan) -> Result<(), JsError> {
        let (mine, theirs) = (Grid::of(&self.volume), Grid::of(&other.volume));
        let [a, b, c] = mine.shape;
        let [x, y, z] = theirs.shape;
        if mine.shape != theirs.shape {
            return Err(JsError::new(&format!("its grid {x}×{y}×{z} does not match the scan's {a}×{b}×{c}")));
        }
        if !mine.matches(&theirs, 1e-3) {
            return Err(JsError::new(
                "it has the scan's size but its voxel-to-world affine differs from the scan's by more than 0.001 mm (resample it onto the scan first)",
            ));
        }
        Ok(())
    }

    /// Dice, HD95 (mm) and volumes (mL) per label of `mine` against `reference`, both on this
    /// scan's grid: the same comparison as `medseg eval`. JSON `{"labels": [{label, dice,
    /// hd95_mm, voxels_mine, voxels_reference, ml_mine, ml_reference}], "mean_dice"}`.
    #[wasm_bindgen(js_name = compareLabels)]
    pub fn compare_labels(&self, mine: &[u16], reference: &[u16]) -> Result<String, JsError> {
        let grid = Grid::of(&self.volume);
        let voxels: usize = grid.shape.iter().product();
        if mine.len() != voxels || reference.len() != voxels {
            return Err(JsError::new(&format!(
                "the label maps have {} and {} values but the scan's grid has {voxels}",
                mine.len(),
                reference.len()
            )));
        }
        let rows = crate::metrics::agreement(mine, reference, &grid);
        let mean_dice = (!rows.is_empty()).then(|| rows.iter().map(|r| r.dice).sum::<f64>() / rows.len() as f64);
        let labels: Vec<_> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "label": r.label,
                    "dice": r.dice,
                    "hd95_mm": r.hd95_mm,
                    "voxels_mine": r.voxels_a,
                    "voxels_reference": r.voxels_b,
                    "ml_mine": self.volume.volume_ml(r.voxels_a),
                    "ml_reference": self.volume.volume_ml(r.voxels_b),
                })
            })
            .collect();
        Ok(serde_json::json!({ "labels": labels, "mean_dice": mean_dice }).to_string())
    }

    /// Encodes labels (x fastest, on this scan's grid) as `.nii.gz` with this scan's geometry
    /// (NIfTI-2 for a NIfTI-2 scan).
    #[wasm_bindgen(js_name = labelsToNiiGz)]
    pub fn labels_to_nii_gz(&self, values: Vec<u16>) -> Result<Vec<u8>, JsError> {
        Ok(self.label_map(values)?.to_nii_gz())
    }

    /// The extension of the scan's own format when it is not NIfTI ("mgz" for MGH/MGZ, "seg.nrrd"
    /// for NRRD), or `undefined`: what `labelsToOwnFormat` writes.
    #[wasm_bindgen(js_name = ownFormatExtension)]
    pub fn own_format_extension(&self) -> Option<String> {
        self.volume.format.own_label_extension().map(String::from)
    }

    /// Encodes labels in the scan's own format (see `ownFormatExtension`), named and coloured from
    /// `table_json` (`{"labels": [{value, name, rgb}]}`, the page's sidecar).
    #[wasm_bindgen(js_name = labelsToOwnFormat)]
    pub fn labels_to_own_format(&self, values: Vec<u16>, table_json: &str) -> Result<Vec<u8>, JsError> {
        let mut map = self.label_map(values)?;
        map.table = LabelTable::from_json(table_json).map_err(|e| JsError::new(&format!("the label table: {e}")))?;
        let extension =
            self.volume.format.own_label_extension().ok_or_else(|| {
                JsError::new(&format!("a {} scan is saved as .nii.gz only", self.volume.format.name()))
            })?;
        Ok(map.encode_for(&format!("labels.{extension}")))
    }
}

impl Scan {
    /// `values` (x fastest) as a label map on this scan's grid, or an error when the count is wrong.
    fn label_map(&self, values: Vec<u16>) -> Result<LabelMap, JsError> {
        let shape = self.volume.shape3();
        let expected: usize = shape.iter().product();
        if values.len() != expected {
            return Err(JsError::new(&format!(
                "the label map has {} values but the scan's grid {}×{}×{} has {expected}",
                values.len(),
                shape[0],
                shape[1],
                shape[2]
            )));
        }
        Ok(LabelMap::on_grid_of(&self.volume, values, LabelTable::default()))
    }
}

/// The files of a dropped folder or zip, added one by one (so the page can show progress), and
/// the DICOM image series among them ([`DicomFiles`], listed when first asked).
#[wasm_bindgen]
#[derive(Default)]
pub struct DicomStudy {
    added: Vec<(String, Vec<u8>)>,
    listed: Option<DicomFiles>,
}

#[wasm_bindgen]
impl DicomStudy {
    /// An empty study.
    #[wasm_bindgen(constructor)]
    pub fn new() -> DicomStudy {
        DicomStudy::default()
    }

    /// Adds one file (its path in the folder or zip, and its bytes), before the series are listed.
    pub fn add(&mut self, name: String, bytes: Vec<u8>) -> Result<(), JsError> {
        if self.listed.is_some() {
            return Err(JsError::new("the series are already listed: add every file first"));
        }
        self.added.push((name, bytes));
        Ok(())
    }

    fn listed(&mut self) -> Result<&DicomFiles, JsError> {
        if self.listed.is_none() {
            self.listed = Some(DicomFiles::list(std::mem::take(&mut self.added))?);
        }
        Ok(self.listed.as_ref().expect("listed above"))
    }

    /// The image series found, as JSON `[{uid, description, modality, rows, columns, slices,
    /// frames_per_slice, files}]`; an error when there is none (saying what was found instead).
    #[wasm_bindgen(js_name = seriesJson)]
    pub fn series_json(&mut self) -> Result<String, JsError> {
        serde_json::to_string(&self.listed()?.series).map_err(|e| JsError::new(&e.to_string()))
    }

    /// The files left out, each with why (not DICOM, DICOMDIR, not an image, …).
    pub fn skipped(&mut self) -> Result<Vec<String>, JsError> {
        Ok(self.listed()?.skipped.clone())
    }

    /// Reads series `index` (of `seriesJson`) as a scan.
    pub fn read(&mut self, index: usize) -> Result<Scan, JsError> {
        Ok(Scan { volume: self.listed()?.read(index, ReadLimits::default())? })
    }
}

/// One 3D volume's grid and geometry header, as it travels between workers.
#[derive(serde::Serialize, serde::Deserialize)]
struct TransferredGeometry {
    dims: [usize; 3],
    header: HeaderGeometry,
    /// The datatype code the voxels are held in.
    held: i16,
    /// `scl_slope`, `scl_inter` when the file asks for scaling.
    scaling: Option<(f64, f64)>,
}

/// Voxel count of each label value present in `values` (0 excluded), as flat
/// `[value, count, value, count, …]`.
#[wasm_bindgen(js_name = labelCounts)]
pub fn label_counts(values: &[u16]) -> Vec<f64> {
    crate::labels::count_labels(values).into_iter().flat_map(|(v, c)| [f64::from(v), c as f64]).collect()
}

/// Where a session's networks run: the accelerator chosen by `useBackend` (none: the CPU) and
/// the sentence saying which backend that is and why.
#[derive(Default)]
pub(crate) struct BackendChoice {
    pub(crate) accelerator: Option<Arc<Accelerator>>,
    pub(crate) what: String,
}

impl BackendChoice {
    /// Applies `name` ("auto", "gpu" or "cpu"); a GPU that is required but missing or failing
    /// its self-check is an error saying so. Returns the accelerator to attach.
    pub(crate) async fn choose(&mut self, name: &str) -> Result<Option<Arc<Accelerator>>, JsError> {
        let backend: Backend = name.parse().map_err(|e: String| JsError::new(&e))?;
        let (accelerator, what) = Accelerator::choose(backend)
            .await
            .map_err(|e| JsError::new(&format!("the GPU backend is not available ({e})")))?;
        self.accelerator = accelerator.clone();
        self.what = what;
        Ok(accelerator)
    }

    /// "CPU (…)" or "GPU: … (self-check …)"; "CPU (no backend chosen)" before `choose`.
    pub(crate) fn what(&self) -> String {
        if self.what.is_empty() {
            "CPU (no backend chosen)".into()
        } else {
            self.what.clone()
        }
    }

    /// The accelerator's notes (GPU failures that finished on the CPU, nodes run on the CPU).
    pub(crate) fn notes(&self) -> Vec<String> {
        self.accelerator.as_ref().map(|a| a.notes()).unwrap_or_default()
    }

    /// Peak bytes held on the GPU since the last `reset_peak` (0 on the CPU).
    pub(crate) fn peak_bytes(&self) -> f64 {
        self.accelerator.as_ref().map_or(0.0, |a| a.gpu.peak_bytes() as f64)
    }

    /// Starts a new GPU peak measurement (before a run).
    pub(crate) fn reset_peak(&self) {
        if let Some(a) = &self.accelerator {
            a.gpu.reset_peak();
        }
    }
}

/// A model loaded in wasm memory, ready to segment scans.
#[wasm_bindgen]
pub struct Segmenter {
    runner: SegmentRunner,
    backend: BackendChoice,
}

#[wasm_bindgen]
impl Segmenter {
    /// Loads a model from its manifest (JSON) and the bytes of each file it lists, in order;
    /// every file's SHA-256 is checked against the manifest.
    #[wasm_bindgen(constructor)]
    pub fn new(manifest_json: &str, files: Vec<js_sys::Uint8Array>) -> Result<Segmenter, JsError> {
        let manifest = Manifest::from_json(manifest_json)?;
        if files.len() != manifest.files.len() {
            return Err(JsError::new(&format!(
                "the manifest lists {} file(s), {} given",
                manifest.files.len(),
                files.len()
            )));
        }
        let mut by_path: Vec<(String, Vec<u8>)> =
            manifest.files.iter().zip(files).map(|(f, bytes)| (f.path.clone(), bytes.to_vec())).collect();
        // Each file is read once: hand its bytes over instead of copying them.
        let model = Model::load(manifest, &mut |path| {
            by_path
                .iter_mut()
                .find(|(p, _)| p == path)
                .map(|(_, b)| std::mem::take(b))
                .ok_or_else(|| "not given".to_string())
        })?;
        Ok(Segmenter { runner: SegmentRunner::new(model)?, backend: BackendChoice::default() })
    }

    /// Chooses where the model runs: `"auto"` (the GPU when WebGPU gives a hardware adapter that
    /// passes a self-check, else the CPU), `"gpu"` (an error when there is no usable GPU) or `"cpu"`.
    /// Resolves to which backend that is and why, e.g. `"CPU (chosen)"`. Without a call the
    /// model runs on the CPU.
    #[wasm_bindgen(js_name = useBackend)]
    pub async fn use_backend(&mut self, name: String) -> Result<String, JsError> {
        let accelerator = self.backend.choose(&name).await?;
        self.runner.use_accelerator(accelerator);
        Ok(self.backend.what())
    }

    /// Which backend runs the model and why (see `useBackend`).
    #[wasm_bindgen(js_name = backendDescription)]
    pub fn backend_description(&self) -> String {
        self.backend.what()
    }

    /// What happened on the GPU so far: failures that sent the work back to the CPU, and graph
    /// nodes the GPU had no kernel for. Empty on the CPU.
    #[wasm_bindgen(js_name = backendNotes)]
    pub fn backend_notes(&self) -> Vec<String> {
        self.backend.notes()
    }

    /// The most bytes held in GPU buffers at once during the last run (0 on the CPU).
    #[wasm_bindgen(js_name = gpuPeakBytes)]
    pub fn gpu_peak_bytes(&self) -> f64 {
        self.backend.peak_bytes()
    }

    /// Segments volume 0 of `scan`; `progress(stage, fraction)` is called as work advances (a
    /// run is cancelled by terminating its worker). Resolves to the labels on the scan's grid
    /// (x fastest).
    pub async fn run(&self, scan: &Scan, progress: &js_sys::Function) -> Result<Vec<u16>, JsError> {
        self.backend.reset_peak();
        let labels = self
            .runner
            .segment(&scan.volume, &mut |stage, fraction| {
                // The page's callback only reports; what it returns is not used.
                let _ = progress.call2(&JsValue::NULL, &JsValue::from_str(stage), &JsValue::from_f64(fraction));
            })
            .await?;
        Ok(labels.values)
    }
}
