//! LiteMedSAM's 2D image handling: a slice as rows × columns, intensity to [0, 1] (CT window or
//! MR percentile clip), OpenCV's area resize of the longest side to 256, padding, and PyTorch's
//! bilinear upsampling of the mask logits back to the slice.

use crate::volume::intensity::quantiles;
use crate::volume::{in_plane_axes, Volume};

/// The network's square input side.
pub const SIDE: usize = 256;

/// A grey image, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    /// Rows (height).
    pub rows: usize,
    /// Columns (width).
    pub cols: usize,
    /// `rows × cols` values, row by row.
    pub values: Vec<f32>,
}

/// How intensities become [0, 1].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Window {
    /// Clip to [lo, hi] (a CT window in HU, or the viewer's current window), scale to [0, 1].
    Range {
        /// Mapped to 0.
        lo: f32,
        /// Mapped to 1.
        hi: f32,
    },
    /// Clip to the image's own 0.5th and 99.5th percentiles (MR), scale to [0, 1].
    Percentiles,
}

impl Image {
    /// Slice `index` across voxel `axis` of volume 0: rows run along the lower of the two other
    /// axes, columns along the higher (for an axial slice of a NIfTI: rows = i, columns = j,
    /// i.e. `data[:, :, k]` as numpy shows it).
    pub fn slice_of(scan: &Volume, axis: usize, index: usize) -> Option<Image> {
        let slice = scan.slice_f32(axis, index, 0)?;
        let shape = scan.shape3();
        let (a, b) = in_plane_axes(axis);
        let (rows, cols) = (shape[a], shape[b]);
        // slice_f32 runs the lower axis fastest: slice[c * rows + r].
        let values = (0..rows).flat_map(|r| (0..cols).map(move |c| (r, c))).map(|(r, c)| slice[c * rows + r]).collect();
        Some(Image { rows, cols, values })
    }

    /// Intensities clipped by `window` and scaled to [0, 1]; non-finite values become 0.
    pub fn to_unit(&self, window: Window) -> Image {
        let (lo, hi) = match window {
            Window::Range { lo, hi } => (lo, hi),
            Window::Percentiles => {
                let q = quantiles(&self.values, &[0.005, 0.995]).unwrap_or(vec![0.0, 1.0]);
                (q[0], q[1])
            }
        };
        let range = (hi - lo).max(f32::EPSILON);
        let values = self
            .values
            .iter()
            .map(|&v| if v.is_finite() { ((v.clamp(lo, hi) - lo) / range).clamp(0.0, 1.0) } else { 0.0 })
            .collect();
        Image { rows: self.rows, cols: self.cols, values }
    }

    /// Resized by pixel-area relation (OpenCV's `INTER_AREA`, both down and up): each output
    /// pixel is the coverage-weighted mean of the input pixels under it.
    pub fn resize_area(&self, rows: usize, cols: usize) -> Image {
        let col_weights = area_weights(self.cols, cols);
        let row_weights = area_weights(self.rows, rows);
        let mut by_cols = vec![0f32; self.rows * cols];
        for r in 0..self.rows {
            for (c, taps) in col_weights.iter().enumerate() {
                by_cols[r * cols + c] = taps.iter().map(|&(i, w)| w * self.values[r * self.cols + i]).sum();
            }
        }
        let mut values = vec![0f32; rows * cols];
        for (r, taps) in row_weights.iter().enumerate() {
            for c in 0..cols {
                values[r * cols + c] = taps.iter().map(|&(i, w)| w * by_cols[i * cols + c]).sum();
            }
        }
        Image { rows, cols, values }
    }
}

/// For each of `n_out` output pixels, the input pixels it covers and their weights (sum 1).
fn area_weights(n_in: usize, n_out: usize) -> Vec<Vec<(usize, f32)>> {
    let scale = n_in as f64 / n_out as f64;
    (0..n_out)
        .map(|o| {
            let (start, end) = (o as f64 * scale, (o + 1) as f64 * scale);
            let mut taps = Vec::new();
            let mut i = start.floor() as usize;
            while (i as f64) < end && i < n_in {
                let overlap = end.min(i as f64 + 1.0) - start.max(i as f64);
                if overlap > 1e-9 {
                    taps.push((i, (overlap / scale) as f32));
                }
                i += 1;
            }
            taps
        })
        .collect()
}

/// The size a `rows × cols` image takes when its longest side becomes [`SIDE`] (LiteMedSAM's
/// `resize_longest_side`: `int(n · scale + 0.5)`).
pub fn resized_size(rows: usize, cols: usize) -> (usize, usize) {
    let scale = SIDE as f64 / rows.max(cols) as f64;
    (((rows as f64 * scale + 0.5) as usize).max(1), ((cols as f64 * scale + 0.5) as usize).max(1))
}

/// The encoder's input `[1, 3, 256, 256]` from a [0, 1] grey image (repeated to 3 channels) or
/// three colour channels of one size: longest side resized to 256 (area), min-max normalised
/// over all channels, padded bottom/right with zeros.
pub fn encoder_input(channels: &[Image]) -> Vec<f32> {
    let first = &channels[0];
    let (rows, cols) = resized_size(first.rows, first.cols);
    let resized: Vec<Image> = (0..3).map(|c| channels[c % channels.len()].resize_area(rows, cols)).collect();
    let (lo, hi) = resized
        .iter()
        .flat_map(|r| r.values.iter())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let range = (hi - lo).max(1e-8);
    let mut input = vec![0f32; 3 * SIDE * SIDE];
    for (c, channel) in resized.iter().enumerate() {
        for r in 0..rows {
            for x in 0..cols {
                input[(c * SIDE + r) * SIDE + x] = (channel.values[r * cols + x] - lo) / range;
            }
        }
    }
    input
}

/// The most pixels a picture may have by default (MedSAM sees it at 256² anyway): the header's
/// claim is checked before any buffer of that size is made.
pub const MAX_PICTURE_PIXELS: usize = 100_000_000;

/// Decodes a PNG or JPEG picture (untrusted bytes) into grey (one channel) or colour (three
/// channels) images in [0, 1]; alpha is dropped. A header claiming more than `max_pixels` pixels
/// is refused before its buffer is allocated. Errors say what is wrong without a file name.
pub fn decode_picture(bytes: &[u8], max_pixels: usize) -> Result<Vec<Image>, String> {
    let (width, height, channels, samples): (usize, usize, usize, Vec<u8>) = if bytes.starts_with(b"\x89PNG") {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder.read_info().map_err(|e| format!("not a readable PNG ({e})"))?;
        let (w, h) = (reader.info().width as usize, reader.info().height as usize);
        if w.checked_mul(h).is_none_or(|n| n > max_pixels) {
            return Err(format!("the PNG header claims {w} × {h} pixels, more than {max_pixels}"));
        }
        let mut buffer = vec![0; reader.output_buffer_size().ok_or("the PNG is too large")?];
        let frame = reader.next_frame(&mut buffer).map_err(|e| format!("damaged PNG ({e})"))?;
        buffer.truncate(frame.buffer_size());
        (frame.width as usize, frame.height as usize, frame.color_type.samples(), buffer)
    } else {
        let mut decoder = jpeg_decoder::Decoder::new(std::io::Cursor::new(bytes));
        decoder.set_max_decoding_buffer_size(max_pixels.saturating_mul(3));
        let pixels = decoder.decode().map_err(|e| format!("not a readable PNG or JPEG ({e})"))?;
        let info = decoder.info().ok_or("JPEG without a header")?;
        let channels = match info.pixel_format {
            jpeg_decoder::PixelFormat::L8 => 1,
            jpeg_decoder::PixelFormat::RGB24 => 3,
            other => return Err(format!("unsupported JPEG pixel format {other:?}")),
        };
        (usize::from(info.width), usize::from(info.height), channels, pixels)
    };
    if width == 0
        || height == 0
        || width.checked_mul(height).and_then(|n| n.checked_mul(channels)) != Some(samples.len())
    {
        return Err(format!(
            "the picture's {} samples do not make {width} × {height} pixels of {channels} channel(s)",
            samples.len()
        ));
    }
    // Grey (+ alpha) → one channel; colour (+ alpha) → three.
    let planes = if channels >= 3 { 3 } else { 1 };
    Ok((0..planes)
        .map(|c| Image {
            rows: height,
            cols: width,
            values: samples.iter().skip(c).step_by(channels).map(|&v| f32::from(v) / 255.0).collect(),
        })
        .collect())
}

/// Bilinear resize as PyTorch's `interpolate(mode="bilinear", align_corners=False)`.
pub fn resize_bilinear(values: &[f32], rows: usize, cols: usize, out_rows: usize, out_cols: usize) -> Vec<f32> {
    let taps = |n_in: usize, n_out: usize| -> Vec<(usize, usize, f32)> {
        let scale = n_in as f32 / n_out as f32;
        (0..n_out)
            .map(|o| {
                let src = ((o as f32 + 0.5) * scale - 0.5).max(0.0);
                let i0 = (src.floor() as usize).min(n_in - 1);
                let i1 = (i0 + 1).min(n_in - 1);
                (i0, i1, src - i0 as f32)
            })
            .collect()
    };
    let (row_taps, col_taps) = (taps(rows, out_rows), taps(cols, out_cols));
    let mut out = Vec::with_capacity(out_rows * out_cols);
    for &(r0, r1, fr) in &row_taps {
        for &(c0, c1, fc) in &col_taps {
            let at = |r: usize, c: usize| values[r * cols + c];
            let top = at(r0, c0) * (1.0 - fc) + at(r0, c1) * fc;
            let bottom = at(r1, c0) * (1.0 - fc) + at(r1, c1) * fc;
            out.push(top * (1.0 - fr) + bottom * fr);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_resize_averages_down_and_blends_up_as_opencv() {
        let image = Image { rows: 1, cols: 4, values: vec![0.0, 2.0, 4.0, 6.0] };
        // cv2.resize(x, (2, 1), interpolation=cv2.INTER_AREA) → [1, 5]
        assert_eq!(image.resize_area(1, 2).values, vec![1.0, 5.0]);
        // cv2.resize([[0, 3]], (3, 1), INTER_AREA) → [0, 1.5, 3]
        let two = Image { rows: 1, cols: 2, values: vec![0.0, 3.0] };
        assert_eq!(two.resize_area(1, 3).values, vec![0.0, 1.5, 3.0]);
    }

    #[test]
    fn longest_side_becomes_256() {
        assert_eq!(resized_size(122, 101), (256, 212));
        assert_eq!(resized_size(512, 512), (256, 256));
    }

    #[test]
    fn bilinear_matches_pytorch_align_corners_false() {
        // F.interpolate(tensor([[[[0., 1.]]]]), size=(1, 4), mode="bilinear") → [0, .25, .75, 1]
        assert_eq!(resize_bilinear(&[0.0, 1.0], 1, 2, 1, 4), vec![0.0, 0.25, 0.75, 1.0]);
    }
}
