//! `medseg medsam`: box-prompted segmentation with LiteMedSAM, on a slice of a scan (optionally
//! propagated through the volume) or on a PNG/JPEG image.

use std::path::{Path, PathBuf};

use medseg::labels::{Label, LabelMap, LabelTable};
use medseg::medsam::image::{Image, Window};
use medseg::medsam::propagate::SliceEncoder;
use medseg::medsam::MedSam;

use crate::open_scan;

const USAGE: &str = "usage: medseg medsam SCAN|IMAGE.png|IMAGE.jpg --box x0,y0,x1,y1 [--slice AXIS:INDEX] \
[--propagate [--range FIRST:LAST]] [--window LO,HI | --percentiles] -o OUT.nii.gz|OUT.png
  box: columns x0..x1 and rows y0..y1 of the slice (rows run along the lower voxel axis);
  default window: CT soft tissue -160,240 HU when the scan looks like CT, else the 0.5-99.5 % percentiles";

/// The model folder: `$MEDSEG_MODELS/litemedsam`, else `models/litemedsam` here or in the checkout.
fn model_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("MEDSEG_MODELS") {
        return Path::new(&dir).join("litemedsam");
    }
    let here = PathBuf::from("models/litemedsam");
    if here.join("medsam.json").exists() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/litemedsam")
}

/// The committed LiteMedSAM, checked against `medsam.json`.
pub fn load() -> Result<MedSam, String> {
    let dir = model_dir();
    let read = |name: &str| {
        std::fs::read(dir.join(name)).map_err(|e| format!("cannot read {}: {e}", dir.join(name).display()))
    };
    let manifest = MedSam::manifest(&String::from_utf8_lossy(&read("medsam.json")?)).map_err(|e| e.to_string())?;
    MedSam::load(&manifest, &read(&manifest.encoder.path)?, &read(&manifest.decoder.path)?).map_err(|e| e.to_string())
}

fn numbers(text: &str, count: usize, what: &str) -> Result<Vec<f32>, String> {
    let values: Vec<f32> = text
        .split(',')
        .map(|v| v.trim().parse::<f32>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{what}: expected {count} numbers separated by commas, got {text:?}"))?;
    if values.len() != count {
        return Err(format!("{what}: expected {count} numbers, got {}", values.len()));
    }
    Ok(values)
}

/// `medseg medsam …`
pub async fn medsam_command(args: &[String]) -> Result<(), String> {
    let (backend, args) = crate::backend::take_backend(args)?;
    let (mut input, mut output, mut prompt, mut slice, mut window, mut range) = (None, None, None, None, None, None);
    let mut propagate = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(|| format!("{arg} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--box" => prompt = Some(numbers(&value()?, 4, "--box")?),
            "--slice" => slice = Some(value()?),
            "--window" => {
                let w = numbers(&value()?, 2, "--window")?;
                window = Some(Window::Range { lo: w[0], hi: w[1] });
            }
            "--percentiles" => window = Some(Window::Percentiles),
            "--propagate" => propagate = true,
            "--range" => {
                let text = value()?;
                let bounds =
                    text.split_once(':').and_then(|(a, b)| Some([a.parse::<usize>().ok()?, b.parse::<usize>().ok()?]));
                range =
                    Some(bounds.ok_or_else(|| format!("--range: expected FIRST:LAST slice indices, got {text:?}"))?);
            }
            "-o" | "--output" => output = Some(value()?),
            other if other.starts_with('-') => return Err(format!("unknown option {other}\n{USAGE}")),
            other => input = Some(other.to_string()),
        }
    }
    let (Some(input), Some(output), Some(prompt)) = (input, output, prompt) else { return Err(USAGE.into()) };
    let prompt: [f32; 4] = prompt.try_into().expect("four numbers");
    if prompt[2] < prompt[0] || prompt[3] < prompt[1] {
        return Err(format!("--box: x1 must be ≥ x0 and y1 ≥ y0, got {prompt:?}"));
    }
    let mut medsam = load()?;
    let accelerator = crate::backend::open(backend).await?;
    medsam.use_accelerator(accelerator.clone());
    let lower = input.to_ascii_lowercase();
    if [".png", ".jpg", ".jpeg"].iter().any(|e| lower.ends_with(e)) {
        return segment_picture(&medsam, &input, prompt, &output).await;
    }
    let scan = open_scan(&input)?;
    let (axis, index) = match slice {
        Some(spec) => {
            let (a, i) = spec.split_once(':').ok_or_else(|| format!("--slice: expected AXIS:INDEX, got {spec:?}"))?;
            let axis = a
                .parse::<usize>()
                .ok()
                .filter(|a| *a < 3)
                .ok_or_else(|| format!("--slice: axis must be 0, 1 or 2, got {a:?}"))?;
            (axis, i.parse::<usize>().map_err(|_| format!("--slice: index must be a number, got {i:?}"))?)
        }
        None => (2, scan.shape3()[2] / 2),
    };
    if index >= scan.shape3()[axis] {
        return Err(format!("--slice: index {index} is outside axis {axis} (0..{})", scan.shape3()[axis]));
    }
    let window = window.unwrap_or_else(|| {
        let (lo, _) = scan.value_range().unwrap_or((0.0, 0.0));
        if lo < -500.0 {
            Window::Range { lo: -160.0, hi: 240.0 }
        } else {
            Window::Percentiles
        }
    });
    let mut encoder = SliceEncoder::new(axis, window);
    let started = std::time::Instant::now();
    let volume = if propagate {
        let volume = encoder
            .propagate(&medsam, &scan, index, prompt, range, &mut |done, most| {
                eprint!("\rpropagating: {done} slices (at most {most})   ");
                true
            })
            .await
            .map_err(|e| e.to_string())?;
        eprintln!();
        volume
    } else {
        let mask = encoder.segment(&medsam, &scan, index, prompt).await.map_err(|e| e.to_string())?;
        eprintln!("IoU estimate {:.3}", mask.iou);
        let mut volume = vec![0u8; scan.shape3().iter().product()];
        mask.write_into(&mut volume, scan.shape3(), axis, index);
        volume
    };
    eprintln!("done in {:.2} s", started.elapsed().as_secs_f64());
    crate::backend::report(&accelerator);
    let count = volume.iter().filter(|&&v| v != 0).count();
    let labels = LabelMap {
        shape: scan.shape3(),
        values: volume.into_iter().map(u16::from).collect(),
        geometry: scan.geometry.header.clone(),
        table: LabelTable { labels: vec![Label { value: 1, name: "object".into(), rgb: [255, 64, 64] }] },
    };
    std::fs::write(&output, labels.to_nii_gz()).map_err(|e| format!("cannot write {output}: {e}"))?;
    println!("wrote {output}: {count} voxels, {:.2} mL", scan.volume_ml(count as u64));
    Ok(())
}

/// The most pixels a picture may have (MedSAM sees it at 256² anyway): the header's claim is
/// checked before any buffer of that size is made.
const MAX_PICTURE_PIXELS: usize = 100_000_000;

/// A PNG or JPEG: grey or colour channels in [0, 1].
fn read_picture(path: &str) -> Result<Vec<Image>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let (width, height, channels, samples): (usize, usize, usize, Vec<f32>) = if bytes.starts_with(b"\x89PNG") {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(&bytes));
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder.read_info().map_err(|e| format!("{path}: not a readable PNG ({e})"))?;
        let (w, h) = (reader.info().width as usize, reader.info().height as usize);
        if w * h > MAX_PICTURE_PIXELS {
            return Err(format!("{path}: the PNG header claims {w} × {h} pixels, more than {MAX_PICTURE_PIXELS}"));
        }
        let mut buffer = vec![0; reader.output_buffer_size().ok_or(format!("{path}: PNG too large"))?];
        let frame = reader.next_frame(&mut buffer).map_err(|e| format!("{path}: damaged PNG ({e})"))?;
        let channels = frame.color_type.samples();
        let data = buffer[..frame.buffer_size()].iter().map(|&v| f32::from(v) / 255.0).collect();
        (frame.width as usize, frame.height as usize, channels, data)
    } else {
        let mut decoder = jpeg_decoder::Decoder::new(std::io::Cursor::new(&bytes));
        decoder.set_max_decoding_buffer_size(3 * MAX_PICTURE_PIXELS);
        let pixels = decoder.decode().map_err(|e| format!("{path}: not a readable PNG or JPEG ({e})"))?;
        let info = decoder.info().ok_or(format!("{path}: JPEG without a header"))?;
        let channels = match info.pixel_format {
            jpeg_decoder::PixelFormat::L8 => 1,
            jpeg_decoder::PixelFormat::RGB24 => 3,
            other => return Err(format!("{path}: unsupported JPEG pixel format {other:?}")),
        };
        (info.width as usize, info.height as usize, channels, pixels.iter().map(|&v| f32::from(v) / 255.0).collect())
    };
    // Grey (+ alpha) → one channel; colour (+ alpha) → three.
    let colour = channels >= 3;
    let planes = if colour { 3 } else { 1 };
    Ok((0..planes)
        .map(|c| Image {
            rows: height,
            cols: width,
            values: samples.iter().skip(c).step_by(channels).copied().collect(),
        })
        .collect())
}

async fn segment_picture(medsam: &MedSam, path: &str, prompt: [f32; 4], output: &str) -> Result<(), String> {
    let channels = read_picture(path)?;
    let started = std::time::Instant::now();
    let embedding = medsam.encode(&channels).await.map_err(|e| e.to_string())?;
    let mask = medsam.decode(&embedding, prompt).await.map_err(|e| e.to_string())?;
    eprintln!("done in {:.2} s, IoU estimate {:.3}", started.elapsed().as_secs_f64(), mask.iou);
    let count = mask.values.iter().filter(|&&v| v != 0).count();
    if output.to_ascii_lowercase().ends_with(".png") {
        let file = std::fs::File::create(output).map_err(|e| format!("cannot write {output}: {e}"))?;
        let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), mask.cols as u32, mask.rows as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let pixels: Vec<u8> = mask.values.iter().map(|&v| v * 255).collect();
        encoder
            .write_header()
            .and_then(|mut w| w.write_image_data(&pixels))
            .map_err(|e| format!("cannot write {output}: {e}"))?;
    } else {
        // One-slice label map: i = column (x), j = row (y), 1 pixel = 1 mm.
        let labels = LabelMap::from_picture_mask(mask.cols, mask.rows, &mask.values);
        std::fs::write(output, labels.to_nii_gz()).map_err(|e| format!("cannot write {output}: {e}"))?;
    }
    println!("wrote {output}: {count} pixels");
    Ok(())
}
