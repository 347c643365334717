//! MedSAM through a volume, as LiteMedSAM's own 3D inference: segment the prompted slice, then
//! walk outwards in both directions, each next box being the previous slice's mask's bounding
//! box with a small margin, until the mask vanishes or the range ends.

use std::collections::HashMap;

use super::image::{Image, Window, SIDE};
use super::{BoxPrompt, Embedding, Mask, MedSam};
use crate::engine::error::{zeroed, RunError};
use crate::volume::{in_plane_axes, MemoryBudget, Volume};

/// Margin added around the previous slice's mask, in 256-pixel units, unless
/// [`SliceEncoder::margin_256`] says otherwise. LiteMedSAM's own `bbox_shift` is 3, made for
/// thin-slice data; on 3 mm slices an organ outgrows such a box from one slice to the next and
/// the mask shrinks away (example_ct, box on the middle slice: liver 3D Dice 0.55 with 3, 0.72
/// with 6, 0.84 with 10, 0.59 with 16; spleen 0.73, 0.93, 0.93, 0.69).
pub const MARGIN_256: f32 = 10.0;

/// Encodes the slices of one scan across one axis with one window, keeping every embedding so
/// that each slice is encoded once whatever boxes follow.
/// Use it with the same scan throughout.
pub struct SliceEncoder {
    /// The axis slices are taken across (0, 1, 2).
    pub axis: usize,
    /// How intensities become [0, 1].
    pub window: Window,
    /// Margin around the previous slice's mask when propagating, in 256-pixel units.
    pub margin_256: f32,
    cache: HashMap<usize, Embedding>,
}

impl SliceEncoder {
    /// An encoder for slices across `axis`, scaled by `window`.
    pub fn new(axis: usize, window: Window) -> SliceEncoder {
        SliceEncoder { axis: axis.min(2), window, margin_256: MARGIN_256, cache: HashMap::new() }
    }

    /// True when slice `index` is already encoded.
    pub fn has(&self, index: usize) -> bool {
        self.cache.contains_key(&index)
    }

    /// The embedding of slice `index` of `scan` (encoded on first use).
    pub async fn embedding(&mut self, medsam: &MedSam, scan: &Volume, index: usize) -> Result<&Embedding, RunError> {
        if !self.cache.contains_key(&index) {
            let embedding = medsam.encode(&[self.unit_image(scan, index)?]).await?;
            self.cache.insert(index, embedding);
        }
        Ok(&self.cache[&index])
    }

    /// Slice `index` of `scan`, windowed to [0, 1].
    fn unit_image(&self, scan: &Volume, index: usize) -> Result<Image, RunError> {
        let (a, b) = in_plane_axes(self.axis);
        let pixels = (scan.shape3()[a] * scan.shape3()[b]) as u64;
        // The slice, its windowed copy and the sort for percentiles are float32 each.
        MemoryBudget::current()
            .check(|| format!("a {}×{} slice for MedSAM", scan.shape3()[a], scan.shape3()[b]), pixels * 12)?;
        let image = Image::slice_of(scan, self.axis, index)
            .ok_or_else(|| RunError::Shape(format!("slice {index} across axis {} is outside the scan", self.axis)))?;
        Ok(image.to_unit(self.window))
    }

    /// The mask for a box on slice `index`.
    pub async fn segment(
        &mut self,
        medsam: &MedSam,
        scan: &Volume,
        index: usize,
        box_px: BoxPrompt,
    ) -> Result<Mask, RunError> {
        medsam.decode(self.embedding(medsam, scan, index).await?, box_px).await
    }

    /// A 3D mask (x fastest, the scan's grid) from a box on slice `index`, walking outwards
    /// within the slices `range` = [first, last] (`None`: the whole volume) while the mask lasts.
    /// `progress(slices done, most slices)` is called after each slice. With threads and on the
    /// CPU, the next slice is encoded while the current one decodes ([`slices_in_flight`]).
    pub async fn propagate(
        &mut self,
        medsam: &MedSam,
        scan: &Volume,
        index: usize,
        box_px: BoxPrompt,
        range: Option<[usize; 2]>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<u8>, RunError> {
        let shape = scan.shape3();
        let depth = shape[self.axis];
        if index >= depth {
            return Err(RunError::Shape(format!(
                "slice {index} across axis {} is outside the scan ({shape:?})",
                self.axis
            )));
        }
        let [first_slice, last_slice] = range.unwrap_or([0, depth - 1]);
        let (first_slice, last_slice) = (first_slice.min(index), last_slice.clamp(index, depth - 1));
        let inside = |slice: i64| (first_slice as i64..=last_slice as i64).contains(&slice);
        let most = last_slice - first_slice + 1;
        let ahead = if slices_in_flight(medsam) > 1 { medsam.on_cpu()? } else { None };
        let mut volume = zeroed::<u8>(shape.iter().product(), "the propagated mask")?;
        let first = self.segment(medsam, scan, index, box_px).await?;
        let mut done = 1;
        progress(done, most);
        first.write_into(&mut volume, shape, self.axis, index);
        for step in [-1i64, 1] {
            let mut previous = first.clone();
            let mut next = index as i64 + step;
            while inside(next) {
                let Some(next_box) = next_box(&previous, self.margin_256) else { break };
                let following = next + step;
                // the slice after `next`, encoded on the pool while `next` decodes; if it cannot be
                // (the walk may stop before it), `segment` tries again when the walk gets there
                let image_ahead = match &ahead {
                    Some(_) if inside(following) && !self.has(following as usize) => {
                        self.unit_image(scan, following as usize).ok()
                    }
                    _ => None,
                };
                let mask = match (&ahead, image_ahead) {
                    (Some(cpu), Some(image)) => {
                        let current = self.embedding(medsam, scan, next as usize).await?;
                        let (mask, encoded) =
                            rayon::join(|| cpu.decode(current, next_box), || cpu.encode(std::slice::from_ref(&image)));
                        let mask = mask?;
                        if let Ok(embedding) = encoded {
                            self.cache.insert(following as usize, embedding);
                        }
                        mask
                    }
                    _ => self.segment(medsam, scan, next as usize, next_box).await?,
                };
                done += 1;
                progress(done, most);
                if mask.bounding_box().is_none() {
                    break;
                }
                mask.write_into(&mut volume, shape, self.axis, next as usize);
                previous = mask;
                next = following;
            }
        }
        Ok(volume)
    }
}

/// How many slices a propagation with `medsam` works on at once: 2 on the CPU with more than one
/// thread (the next slice is encoded while the current one decodes), else 1.
pub fn slices_in_flight(medsam: &MedSam) -> usize {
    if rayon::current_num_threads() > 1 && medsam.runs_on_cpu() {
        2
    } else {
        1
    }
}

/// The previous mask's bounding box grown by the margin (converted to slice pixels).
fn next_box(previous: &Mask, margin_256: f32) -> Option<BoxPrompt> {
    let [x0, y0, x1, y1] = previous.bounding_box()?;
    let margin = margin_256 * previous.rows.max(previous.cols) as f32 / SIDE as f32;
    let (w, h) = (previous.cols as f32 - 1.0, previous.rows as f32 - 1.0);
    Some([
        (x0 as f32 - margin).max(0.0),
        (y0 as f32 - margin).max(0.0),
        (x1 as f32 + margin).min(w),
        (y1 as f32 + margin).min(h),
    ])
}
