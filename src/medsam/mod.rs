//! MedSAM (LiteMedSAM): box-prompted segmentation of 2D images and, slice by slice, of volumes.
//! The image encoder runs once per slice ([`MedSam::encode`]); each box then costs only the
//! small decoder ([`MedSam::decode`]).

pub mod image;
pub mod propagate;

use crate::engine::error::{LoadError, RunError};
use crate::engine::gpu::Accelerator;
use crate::engine::network::{CpuRun, Network};
use crate::engine::tensor::Shaped;
use crate::models::check_pinned;
use crate::models::manifest::MedSamManifest;
use crate::volume::in_plane_axes;
use image::{encoder_input, resize_bilinear, resized_size, Image, SIDE};

/// A loaded LiteMedSAM.
pub struct MedSam {
    encoder: Network,
    decoder: Network,
}

/// One slice run through the encoder.
#[derive(Clone)]
pub struct Embedding {
    /// `[1, 256, 64, 64]` features.
    values: Vec<f32>,
    /// The slice's size.
    rows: usize,
    cols: usize,
}

/// A 2D mask on a slice.
#[derive(Clone, Debug, PartialEq)]
pub struct Mask {
    /// Rows of the slice.
    pub rows: usize,
    /// Columns of the slice.
    pub cols: usize,
    /// 1 inside, 0 outside, row by row.
    pub values: Vec<u8>,
    /// The decoder's own estimate of the mask's IoU.
    pub iou: f32,
}

/// A box on a slice in pixel units: columns `x0..x1`, rows `y0..y1` (corners, inclusive of
/// the pixels they touch).
pub type BoxPrompt = [f32; 4];

impl MedSam {
    /// Runs the encoder and decoder on `accelerator`'s GPU, or on the CPU (`None`).
    pub fn use_accelerator(&mut self, accelerator: Option<std::sync::Arc<Accelerator>>) {
        self.encoder.use_accelerator(accelerator.clone());
        self.decoder.use_accelerator(accelerator);
    }

    /// Loads both networks, checking each file against the manifest's SHA-256.
    pub fn load(manifest: &MedSamManifest, encoder: &[u8], decoder: &[u8]) -> Result<MedSam, LoadError> {
        check_pinned(&manifest.encoder, encoder)?;
        check_pinned(&manifest.decoder, decoder)?;
        Self::from_bytes(encoder, decoder)
    }

    /// Loads both networks from ONNX bytes without pinning (tests, a user's own export).
    pub fn from_bytes(encoder: &[u8], decoder: &[u8]) -> Result<MedSam, LoadError> {
        Ok(MedSam { encoder: Network::from_onnx_bytes(encoder)?, decoder: Network::from_onnx_bytes(decoder)? })
    }

    /// Runs the encoder on a [0, 1] grey image (see [`Image::to_unit`]) or three [0, 1] colour
    /// channels of the same size.
    pub async fn encode(&self, channels: &[Image]) -> Result<Embedding, RunError> {
        let first = check_channels(channels)?;
        let values = self.encode_input(encoder_input(channels)).await?;
        Ok(Embedding { values, rows: first.rows, cols: first.cols })
    }

    /// Runs the encoder on a prepared `[1, 3, 256, 256]` input; returns the embeddings.
    pub async fn encode_input(&self, input: Vec<f32>) -> Result<Vec<f32>, RunError> {
        let (values, shape) = self.encoder.run(input, &ENCODER_INPUT).await?;
        embeddings_of(values, &shape)
    }

    /// The decoder's raw outputs for embeddings and a box in 256-pixel space: 256² logits and
    /// the IoU estimate.
    pub async fn decode_raw(&self, embeddings: &[f32], box_256: [f32; 4]) -> Result<(Vec<f32>, f32), RunError> {
        logits_of(self.decoder.run_all(decoder_inputs(embeddings, box_256), &mut |_| {}).await?)
    }

    /// The mask for `prompt` (slice pixels) on an encoded slice: logits cropped to the resized
    /// image, upsampled bilinearly to the slice, thresholded at 0.
    pub async fn decode(&self, embedding: &Embedding, prompt: BoxPrompt) -> Result<Mask, RunError> {
        let (logits, iou) = self.decode_raw(&embedding.values, embedding.box_256(prompt)).await?;
        Ok(embedding.mask(&logits, iou))
    }

    /// True when both networks run on the CPU (no GPU attached, or it failed).
    pub fn runs_on_cpu(&self) -> bool {
        !self.encoder.on_gpu() && !self.decoder.on_gpu()
    }

    /// Both networks as CPU runs any thread may use, or `None` when they run on a GPU.
    pub fn on_cpu(&self) -> Result<Option<CpuMedSam>, RunError> {
        let encoder = self.encoder.cpu_run(&[ENCODER_INPUT.to_vec()])?;
        let decoder = self.decoder.cpu_run(&[vec![1, 256, 64, 64], vec![1, 1, 4]])?;
        Ok(encoder.zip(decoder).map(|(encoder, decoder)| CpuMedSam { encoder, decoder }))
    }
}

/// LiteMedSAM on the CPU, free of GPU objects: [`MedSam::encode`] and [`MedSam::decode`] as
/// plain calls that any thread of the pool can make.
pub struct CpuMedSam {
    encoder: CpuRun,
    decoder: CpuRun,
}

impl CpuMedSam {
    /// As [`MedSam::encode`].
    pub fn encode(&self, channels: &[Image]) -> Result<Embedding, RunError> {
        let first = check_channels(channels)?;
        let input = (encoder_input(channels), ENCODER_INPUT.to_vec());
        let (values, shape) = self.encoder.run(vec![input])?.swap_remove(0);
        Ok(Embedding { values: embeddings_of(values, &shape)?, rows: first.rows, cols: first.cols })
    }

    /// As [`MedSam::decode`].
    pub fn decode(&self, embedding: &Embedding, prompt: BoxPrompt) -> Result<Mask, RunError> {
        let outputs = self.decoder.run(decoder_inputs(&embedding.values, embedding.box_256(prompt)))?;
        let (logits, iou) = logits_of(outputs)?;
        Ok(embedding.mask(&logits, iou))
    }
}

/// The encoder's input shape.
const ENCODER_INPUT: [usize; 4] = [1, 3, SIDE, SIDE];

/// The first of one grey or three colour channels of one size; an error otherwise.
fn check_channels(channels: &[Image]) -> Result<&Image, RunError> {
    let first = channels.first().ok_or_else(|| RunError::Shape("no image to encode".into()))?;
    if channels.len() != 1 && channels.len() != 3
        || channels.iter().any(|c| c.rows != first.rows || c.cols != first.cols || c.values.len() != c.rows * c.cols)
        || first.rows == 0
        || first.cols == 0
    {
        return Err(RunError::Shape("MedSAM takes one grey or three colour channels of one size".into()));
    }
    Ok(first)
}

/// The encoder's output, checked to be `[1, 256, 64, 64]` embeddings.
fn embeddings_of(values: Vec<f32>, shape: &[usize]) -> Result<Vec<f32>, RunError> {
    if shape != [1, 256, 64, 64] {
        return Err(RunError::Shape(format!("the encoder returned {shape:?}, expected [1, 256, 64, 64]")));
    }
    Ok(values)
}

/// The decoder's inputs: embeddings and a box in 256-pixel space.
fn decoder_inputs(embeddings: &[f32], box_256: [f32; 4]) -> Vec<Shaped> {
    vec![(embeddings.to_vec(), vec![1, 256, 64, 64]), (box_256.to_vec(), vec![1, 1, 4])]
}

/// The decoder's 256² logits (checked) and its IoU estimate.
fn logits_of(mut outputs: Vec<Shaped>) -> Result<(Vec<f32>, f32), RunError> {
    let iou = outputs.get(1).and_then(|(v, _)| v.first().copied()).unwrap_or(f32::NAN);
    let (logits, shape) = outputs.swap_remove(0);
    if shape != [1, 1, SIDE, SIDE] {
        return Err(RunError::Shape(format!("the decoder returned {shape:?}, expected [1, 1, 256, 256]")));
    }
    Ok((logits, iou))
}

impl Embedding {
    /// A box in slice pixels in the encoder's 256-pixel space.
    fn box_256(&self, prompt: BoxPrompt) -> [f32; 4] {
        let scale = SIDE as f32 / self.rows.max(self.cols) as f32;
        prompt.map(|v| v * scale)
    }

    /// The decoder's logits cropped to the resized slice, upsampled bilinearly to the slice,
    /// thresholded at 0.
    fn mask(&self, logits: &[f32], iou: f32) -> Mask {
        let (rows, cols) = (self.rows, self.cols);
        let (new_rows, new_cols) = resized_size(rows, cols);
        let cropped: Vec<f32> = (0..new_rows).flat_map(|r| logits[r * SIDE..r * SIDE + new_cols].to_vec()).collect();
        let full = resize_bilinear(&cropped, new_rows, new_cols, rows, cols);
        Mask { rows, cols, values: full.iter().map(|&v| u8::from(v > 0.0)).collect(), iou }
    }
}

impl Mask {
    /// Sets to 1 the voxels of slice `index` across `axis` of a volume (x fastest, `shape`)
    /// that are inside this mask (rows/columns as [`Image::slice_of`] lays them out).
    pub fn write_into(&self, volume: &mut [u8], shape: [usize; 3], axis: usize, index: usize) {
        let (a, b) = in_plane_axes(axis);
        let strides = [1, shape[0], shape[0] * shape[1]];
        for (p, _) in self.values.iter().enumerate().filter(|(_, &v)| v != 0) {
            volume[index * strides[axis] + (p / self.cols) * strides[a] + (p % self.cols) * strides[b]] = 1;
        }
    }

    /// The mask's bounding box `[x0, y0, x1, y1]` (columns, rows of its outermost pixels), or
    /// `None` when empty.
    pub fn bounding_box(&self) -> Option<[usize; 4]> {
        let mut b = [usize::MAX, usize::MAX, 0, 0];
        for (i, _) in self.values.iter().enumerate().filter(|(_, &v)| v != 0) {
            let (r, c) = (i / self.cols, i % self.cols);
            b = [b[0].min(c), b[1].min(r), b[2].max(c), b[3].max(r)];
        }
        (b[0] != usize::MAX).then_some(b)
    }
}
