//! The JavaScript API of MedSAM: one session per model, embeddings cached per slice so that each
//! new box on an encoded slice costs only the decoder. The methods that run a network return
//! Promises; one call at a time (a second call while one is pending finds the session borrowed).

use wasm_bindgen::prelude::*;

use super::{BackendChoice, Scan};
use crate::medsam::image::{Image, Window};
use crate::medsam::propagate::{slices_in_flight, SliceEncoder};
use crate::medsam::{Embedding, MedSam};
use crate::models::manifest::MedSamManifest;

/// LiteMedSAM loaded in wasm memory, with the encoded slices of the scan in use.
#[wasm_bindgen]
pub struct MedSamSession {
    medsam: MedSam,
    slices: Option<SliceEncoder>,
    picture: Option<Embedding>,
    backend: BackendChoice,
}

fn window_of(lo: f32, hi: f32, percentiles: bool) -> Window {
    if percentiles {
        Window::Percentiles
    } else {
        Window::Range { lo, hi }
    }
}

fn box_of(values: &[f32]) -> Result<[f32; 4], JsError> {
    values.try_into().map_err(|_| JsError::new(&format!("a box is 4 numbers x0, y0, x1, y1; got {}", values.len())))
}

#[wasm_bindgen]
impl MedSamSession {
    /// Loads the encoder and decoder, checking both against the manifest's SHA-256.
    #[wasm_bindgen(constructor)]
    pub fn new(manifest_json: &str, encoder: &[u8], decoder: &[u8]) -> Result<MedSamSession, JsError> {
        let manifest = MedSamManifest::from_json(manifest_json)?;
        Ok(MedSamSession {
            medsam: MedSam::load(&manifest, encoder, decoder)?,
            slices: None,
            picture: None,
            backend: BackendChoice::default(),
        })
    }

    /// Chooses where the encoder and decoder run: `"auto"`, `"gpu"` or `"cpu"` (see
    /// `Segmenter.useBackend`); resolves to which backend that is and why. Cached embeddings
    /// stay (both backends compute the same values within the self-check's tolerance).
    #[wasm_bindgen(js_name = useBackend)]
    pub async fn use_backend(&mut self, name: String) -> Result<String, JsError> {
        let accelerator = self.backend.choose(&name).await?;
        self.medsam.use_accelerator(accelerator);
        Ok(self.backend.what())
    }

    /// Which backend runs the networks and why.
    #[wasm_bindgen(js_name = backendDescription)]
    pub fn backend_description(&self) -> String {
        self.backend.what()
    }

    /// What happened on the GPU so far (failures that finished on the CPU, CPU nodes).
    #[wasm_bindgen(js_name = backendNotes)]
    pub fn backend_notes(&self) -> Vec<String> {
        self.backend.notes()
    }

    /// The most bytes held in GPU buffers at once since `resetGpuPeak` (0 on the CPU).
    #[wasm_bindgen(js_name = gpuPeakBytes)]
    pub fn gpu_peak_bytes(&self) -> f64 {
        self.backend.peak_bytes()
    }

    /// Starts a new GPU peak measurement (e.g. before a box).
    #[wasm_bindgen(js_name = resetGpuPeak)]
    pub fn reset_gpu_peak(&self) {
        self.backend.reset_peak();
    }

    /// How many slices a propagation works on at once: 2 when the next slice is encoded while the
    /// current one decodes (the threaded build, on the CPU), else 1.
    #[wasm_bindgen(js_name = slicesInFlight)]
    pub fn slices_in_flight(&self) -> usize {
        slices_in_flight(&self.medsam)
    }

    /// Forgets every cached embedding (call when another scan is opened).
    pub fn clear(&mut self) {
        self.slices = None;
        self.picture = None;
    }

    /// The model and the slice encoder for `axis` and this window: the one in use while they
    /// stay the same, else a fresh one.
    fn slices(&mut self, axis: usize, lo: f32, hi: f32, percentiles: bool) -> (&MedSam, &mut SliceEncoder) {
        let window = window_of(lo, hi, percentiles);
        let slices = match self.slices.take() {
            Some(s) if s.axis == axis && s.window == window => s,
            _ => SliceEncoder::new(axis, window),
        };
        (&self.medsam, self.slices.insert(slices))
    }

    /// True when slice `index` across `axis` is encoded with this window.
    #[wasm_bindgen(js_name = isEncoded)]
    pub fn is_encoded(&self, axis: usize, index: usize, lo: f32, hi: f32, percentiles: bool) -> bool {
        let window = window_of(lo, hi, percentiles);
        self.slices.as_ref().is_some_and(|s| s.axis == axis && s.window == window && s.has(index))
    }

    /// Encodes slice `index` across `axis` (window [lo, hi], or the slice's 0.5–99.5 %
    /// percentiles) unless it is cached.
    pub async fn encode(
        &mut self,
        scan: &Scan,
        axis: usize,
        index: usize,
        lo: f32,
        hi: f32,
        percentiles: bool,
    ) -> Result<(), JsError> {
        let (medsam, slices) = self.slices(axis, lo, hi, percentiles);
        slices.embedding(medsam, &scan.volume, index).await?;
        Ok(())
    }

    /// The mask (rows × columns, row by row, 1 inside) for a box `[x0, y0, x1, y1]` on slice
    /// `index` across `axis`; rows run along the lower of the two other voxel axes.
    #[allow(clippy::too_many_arguments)]
    pub async fn segment(
        &mut self,
        scan: &Scan,
        axis: usize,
        index: usize,
        lo: f32,
        hi: f32,
        percentiles: bool,
        prompt: Vec<f32>,
    ) -> Result<Vec<u8>, JsError> {
        let prompt = box_of(&prompt)?;
        let (medsam, slices) = self.slices(axis, lo, hi, percentiles);
        Ok(slices.segment(medsam, &scan.volume, index, prompt).await?.values)
    }

    /// The 3D mask (x fastest) from a box on slice `index`, walking outwards within slices
    /// `first..=last`; `progress(done, most)` is called after each slice (a propagation is
    /// cancelled by terminating its worker).
    #[allow(clippy::too_many_arguments)]
    pub async fn propagate(
        &mut self,
        scan: &Scan,
        axis: usize,
        index: usize,
        lo: f32,
        hi: f32,
        percentiles: bool,
        prompt: Vec<f32>,
        first: usize,
        last: usize,
        progress: &js_sys::Function,
    ) -> Result<Vec<u8>, JsError> {
        let prompt = box_of(&prompt)?;
        let (medsam, slices) = self.slices(axis, lo, hi, percentiles);
        let volume = slices
            .propagate(medsam, &scan.volume, index, prompt, Some([first, last]), &mut |done, most| {
                // The page's callback only reports; what it returns is not used.
                let _ = progress.call2(&JsValue::NULL, &JsValue::from(done as u32), &JsValue::from(most as u32));
            })
            .await?;
        Ok(volume)
    }

    /// Encodes a 2D picture from RGBA pixels (`width × height`, as a canvas gives them); grey
    /// pictures (R = G = B everywhere) go in as one channel.
    #[wasm_bindgen(js_name = encodePicture)]
    pub async fn encode_picture(&mut self, rgba: &[u8], width: usize, height: usize) -> Result<(), JsError> {
        if rgba.len() != width * height * 4 || width == 0 || height == 0 {
            return Err(JsError::new(&format!("{} bytes are not {width} × {height} RGBA pixels", rgba.len())));
        }
        let channel = |c: usize| Image {
            rows: height,
            cols: width,
            values: rgba.chunks_exact(4).map(|p| f32::from(p[c]) / 255.0).collect(),
        };
        let grey = rgba.chunks_exact(4).all(|p| p[0] == p[1] && p[1] == p[2]);
        let channels = if grey { vec![channel(0)] } else { vec![channel(0), channel(1), channel(2)] };
        self.picture = Some(self.medsam.encode(&channels).await?);
        Ok(())
    }

    /// The mask (row by row) for a box on the encoded picture.
    #[wasm_bindgen(js_name = segmentPicture)]
    pub async fn segment_picture(&self, prompt: Vec<f32>) -> Result<Vec<u8>, JsError> {
        let embedding = self.picture.as_ref().ok_or_else(|| JsError::new("no picture is encoded"))?;
        Ok(self.medsam.decode(embedding, box_of(&prompt)?).await?.values)
    }
}
