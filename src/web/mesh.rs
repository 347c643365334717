//! Surfaces in the page: the label surfaces of an overlay (computed in a worker, with progress),
//! their triangles for the 3D view and the same files `medseg mesh` writes.

use wasm_bindgen::prelude::*;

use super::TransferredGeometry;
use crate::labels::LabelTable;
use crate::mesh::export::{self, Format, Frame};
use crate::mesh::{label_surfaces, LabelSurface, MeshOptions};
use crate::volume::resample::Grid;
use crate::volume::Geometry;

/// The surfaces of a label map's labels, held in wasm memory.
#[wasm_bindgen]
pub struct Surfaces {
    surfaces: Vec<LabelSurface>,
}

/// `{"labels": [values…], "smooth": K, "target_triangles": T}`, every key optional.
#[derive(serde::Deserialize, Default)]
struct OptionsJson {
    #[serde(default)]
    labels: Vec<u16>,
    #[serde(default)]
    smooth: usize,
    target_triangles: Option<usize>,
}

#[wasm_bindgen]
impl Surfaces {
    /// Surfaces of `labels` (one value per voxel of the scan whose `geometryJson()` is given),
    /// named and coloured by `table_json` (a label sidecar, or "" for none), made as
    /// `options_json` says; `progress(done, total)` after each label.
    #[wasm_bindgen(constructor)]
    pub fn new(
        geometry_json: &str,
        labels: Vec<u16>,
        table_json: &str,
        options_json: &str,
        progress: &js_sys::Function,
    ) -> Result<Surfaces, JsError> {
        let TransferredGeometry { dims, header, .. } = serde_json::from_str(geometry_json)
            .map_err(|e| JsError::new(&format!("not a scan's geometryJson(): {e}")))?;
        if labels.len() != dims.iter().product::<usize>() {
            return Err(JsError::new(&format!(
                "the label map has {} values but the scan's grid {}×{}×{} has {}",
                labels.len(),
                dims[0],
                dims[1],
                dims[2],
                dims.iter().product::<usize>()
            )));
        }
        let table = if table_json.trim().is_empty() {
            LabelTable::default()
        } else {
            LabelTable::from_json(table_json).map_err(|e| JsError::new(&format!("the label table: {e}")))?
        };
        let options: OptionsJson = if options_json.trim().is_empty() {
            OptionsJson::default()
        } else {
            serde_json::from_str(options_json).map_err(|e| JsError::new(&format!("mesh options: {e}")))?
        };
        if options.smooth > 500 || options.target_triangles.is_some_and(|t| t < 4) {
            return Err(JsError::new("mesh options: smooth must be 0–500 and target_triangles at least 4"));
        }
        let geometry = Geometry::from_header(header, &dims, &mut Vec::new())?;
        let grid = Grid { shape: dims, affine: geometry.affine_mm() };
        let options =
            MeshOptions { labels: options.labels, smooth: options.smooth, target_triangles: options.target_triangles };
        let surfaces = label_surfaces(&labels, &grid, &table, &options, &mut |done, total| {
            let _ = progress.call2(&JsValue::NULL, &JsValue::from_f64(done as f64), &JsValue::from_f64(total as f64));
        });
        Ok(Surfaces { surfaces })
    }

    /// How many labels have a surface.
    pub fn count(&self) -> usize {
        self.surfaces.len()
    }

    /// Label value of surface `i`.
    pub fn value(&self, i: usize) -> u16 {
        self.surfaces[i].value
    }

    /// Label name of surface `i`.
    pub fn name(&self, i: usize) -> String {
        self.surfaces[i].name.clone()
    }

    /// Colour `[r, g, b]` of surface `i`.
    pub fn rgb(&self, i: usize) -> Vec<u8> {
        self.surfaces[i].rgb.to_vec()
    }

    /// Vertex positions of surface `i` (x, y, z in RAS mm, flat).
    pub fn positions(&self, i: usize) -> Vec<f32> {
        self.surfaces[i].mesh.positions.iter().flatten().copied().collect()
    }

    /// Unit vertex normals of surface `i` (flat).
    pub fn normals(&self, i: usize) -> Vec<f32> {
        self.surfaces[i].mesh.vertex_normals().into_iter().flatten().collect()
    }

    /// Triangle vertex indices of surface `i` (flat, counter-clockwise seen from outside).
    pub fn indices(&self, i: usize) -> Vec<u32> {
        self.surfaces[i].mesh.triangles.iter().flatten().copied().collect()
    }

    /// Enclosed volume of surface `i` in mL.
    #[wasm_bindgen(js_name = volumeMl)]
    pub fn volume_ml(&self, i: usize) -> f64 {
        self.surfaces[i].mesh.enclosed_volume_mm3() / 1000.0
    }

    /// The bytes `medseg mesh` writes for these surfaces to a file named `file_name` (its
    /// extension picks .stl, .obj, .ply or .glb); `lps` for LPS coordinates.
    pub fn file(&self, file_name: &str, lps: bool) -> Result<Vec<u8>, JsError> {
        let format = Format::of_path(file_name).map_err(|e| JsError::new(&e))?;
        Ok(export::write(&self.surfaces, format, if lps { Frame::Lps } else { Frame::Ras }))
    }
}
