//! `medseg medsam`: box-prompted segmentation with LiteMedSAM, on a slice of a scan (optionally
//! propagated through the volume) or on a PNG/JPEG image.

use std::path::PathBuf;

use medseg::medsam::image::{decode_picture, Image, Window, MAX_PICTURE_PIXELS};
use medseg::medsam::propagate::{slices_in_flight, SliceEncoder};
use medseg::medsam::MedSam;
use medseg::models::manifest::{MedSamManifest, ModelFile};
use medseg::{Label, LabelMap, LabelTable, Volume};

use crate::backend::{self, BackendArg};
use crate::models::read_declared;
use crate::scan::open_scan;
use crate::threads::ThreadsArg;

/// Arguments of `medseg medsam`.
#[derive(clap::Args)]
#[command(
    after_help = "The default window: CT soft tissue -160,240 HU when the scan looks like CT (values below -500), else the 0.5-99.5 % percentiles."
)]
pub struct Args {
    /// A scan (.nii, .nii.gz, .hdr with its .img) or a picture (.png, .jpg, .jpeg)
    #[arg(value_name = "SCAN|IMAGE")]
    input: String,
    /// The box, in pixels of the slice or picture: columns x0..x1 and rows y0..y1 (a slice's
    /// rows run along the lower of its two voxel axes); it must lie inside the image
    #[arg(long = "box", value_name = "X0,Y0,X1,Y1", value_parser = parse_box, allow_hyphen_values = true)]
    prompt: [f32; 4],
    /// The slice: voxel axis 0, 1 or 2 and the index along it (default: the middle of axis 2)
    #[arg(long, value_name = "AXIS:INDEX", value_parser = parse_slice)]
    slice: Option<(usize, usize)>,
    /// Follow the object slice by slice through the volume, from the box's slice outwards
    #[arg(long)]
    propagate: bool,
    /// With --propagate: the first and last slices to reach
    #[arg(long, value_name = "FIRST:LAST", value_parser = parse_range, requires = "propagate")]
    range: Option<[usize; 2]>,
    /// Intensity window: LO maps to black, HI to white (e.g. -160,240 for CT soft tissue)
    #[arg(long, value_name = "LO,HI", value_parser = parse_window, allow_hyphen_values = true)]
    window: Option<[f32; 2]>,
    /// Window by the slice's own 0.5 and 99.5 % percentiles
    #[arg(long, conflicts_with = "window")]
    percentiles: bool,
    /// The mask to write: .nii.gz (a scan's grid, or one slice for a picture) or .png (pictures)
    #[arg(short, long, value_name = "OUT")]
    output: String,
    #[command(flatten)]
    backend: BackendArg,
    #[command(flatten)]
    threads: ThreadsArg,
}

/// The LiteMedSAM folder in the installation's models folder.
fn model_dir() -> PathBuf {
    crate::models::models_dir().join("litemedsam")
}

/// The committed LiteMedSAM, checked against `medsam.json`.
pub fn load() -> Result<MedSam, String> {
    let dir = model_dir();
    let text = read_declared(&dir.join("medsam.json"), MAX_MANIFEST_BYTES)?;
    let manifest = MedSamManifest::from_json(&String::from_utf8_lossy(&text)).map_err(|e| e.to_string())?;
    let read = |file: &ModelFile| read_declared(&dir.join(&file.path), file.bytes);
    MedSam::load(&manifest, &read(&manifest.encoder)?, &read(&manifest.decoder)?).map_err(|e| e.to_string())
}

/// A MedSAM manifest is a few hundred bytes; anything past this is not one.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// `N` finite numbers separated by commas.
fn numbers<const N: usize>(text: &str) -> Result<[f32; N], String> {
    let values: Vec<f32> = text
        .split(',')
        .map(|v| v.trim().parse::<f32>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("expected {N} numbers separated by commas, got {text:?}"))?;
    let values: [f32; N] = values.try_into().map_err(|v: Vec<f32>| format!("expected {N} numbers, got {}", v.len()))?;
    if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
        return Err(format!("expected finite numbers, got {bad} in {text:?}"));
    }
    Ok(values)
}

fn parse_box(text: &str) -> Result<[f32; 4], String> {
    let b = numbers::<4>(text)?;
    if b[2] < b[0] || b[3] < b[1] {
        return Err(format!("x1 must be ≥ x0 and y1 ≥ y0, got {b:?}"));
    }
    Ok(b)
}

fn parse_window(text: &str) -> Result<[f32; 2], String> {
    numbers::<2>(text)
}

fn parse_slice(text: &str) -> Result<(usize, usize), String> {
    let (a, i) = text.split_once(':').ok_or_else(|| format!("expected AXIS:INDEX, got {text:?}"))?;
    let axis =
        a.parse::<usize>().ok().filter(|a| *a < 3).ok_or_else(|| format!("axis must be 0, 1 or 2, got {a:?}"))?;
    Ok((axis, i.parse::<usize>().map_err(|_| format!("index must be a number, got {i:?}"))?))
}

fn parse_range(text: &str) -> Result<[usize; 2], String> {
    text.split_once(':')
        .and_then(|(a, b)| Some([a.parse::<usize>().ok()?, b.parse::<usize>().ok()?]))
        .ok_or_else(|| format!("expected FIRST:LAST slice indices, got {text:?}"))
}

/// Refuses a box that does not lie inside an image of `rows` × `cols` pixels.
fn check_inside(prompt: [f32; 4], rows: usize, cols: usize, what: &str) -> Result<(), String> {
    let [x0, y0, x1, y1] = prompt;
    let (rows_f, cols_f) = (rows as f32, cols as f32);
    if x0 < 0.0 || y0 < 0.0 || x1 > cols_f || y1 > rows_f {
        return Err(format!(
            "--box {x0},{y0},{x1},{y1} is outside the {what} ({cols} columns × {rows} rows): \
             it needs 0 ≤ x0 ≤ x1 ≤ {cols} and 0 ≤ y0 ≤ y1 ≤ {rows}"
        ));
    }
    Ok(())
}

/// Runs `medseg medsam`.
pub async fn run(args: &Args) -> Result<(), String> {
    let lower = args.input.to_ascii_lowercase();
    if [".png", ".jpg", ".jpeg"].iter().any(|e| lower.ends_with(e)) {
        let scan_only = [
            ("--slice", args.slice.is_some()),
            ("--propagate", args.propagate),
            ("--window", args.window.is_some()),
            ("--percentiles", args.percentiles),
        ];
        if let Some((option, _)) = scan_only.iter().find(|(_, given)| *given) {
            return Err(format!("{option} applies to scans, not to pictures such as {}", args.input));
        }
        let channels = read_picture(&args.input)?;
        check_inside(args.prompt, channels[0].rows, channels[0].cols, "picture")?;
        let mut medsam = load()?;
        args.threads.install()?;
        medsam.use_accelerator(backend::open(args.backend).await?);
        return segment_picture(&medsam, &channels, args.prompt, &args.output).await;
    }
    let scan = open_scan(&args.input)?;
    let shape = scan.shape3();
    let (axis, index) = args.slice.unwrap_or((2, shape[2] / 2));
    if index >= shape[axis] {
        return Err(format!("--slice: index {index} is outside axis {axis} (0..{})", shape[axis]));
    }
    // A slice's rows run along the lower of the two other axes, its columns along the higher.
    let others: Vec<usize> = (0..3).filter(|&a| a != axis).collect();
    check_inside(args.prompt, shape[others[0]], shape[others[1]], &format!("slice {axis}:{index}"))?;
    let window = match (args.window, args.percentiles) {
        (Some([lo, hi]), _) => Window::Range { lo, hi },
        (None, true) => Window::Percentiles,
        (None, false) => default_window(&scan),
    };
    let mut medsam = load()?;
    args.threads.install()?;
    let accelerator = backend::open(args.backend).await?;
    medsam.use_accelerator(accelerator.clone());
    let mut encoder = SliceEncoder::new(axis, window);
    let started = std::time::Instant::now();
    let volume = if args.propagate {
        let bar = crate::progress::bar(
            shape[axis] as u64,
            "{spinner} propagating [{bar:30}] {pos} of at most {len} slices  {elapsed}",
        );
        let mut slices = (0, 0);
        let result = encoder
            .propagate(&medsam, &scan, index, args.prompt, args.range, &mut |done, most| {
                bar.set_length(most as u64);
                bar.set_position(done as u64);
                slices = (done, most);
            })
            .await;
        bar.finish_and_clear();
        let volume = result.map_err(|e| e.to_string())?;
        eprintln!("propagating: {} slices (at most {}), {} at a time", slices.0, slices.1, slices_in_flight(&medsam));
        volume
    } else {
        let mask = encoder.segment(&medsam, &scan, index, args.prompt).await.map_err(|e| e.to_string())?;
        eprintln!("IoU estimate {:.3}", mask.iou);
        let mut volume = vec![0u8; shape.iter().product()];
        mask.write_into(&mut volume, shape, axis, index);
        volume
    };
    eprintln!("done in {:.2} s", started.elapsed().as_secs_f64());
    backend::report(&accelerator);
    let count = volume.iter().filter(|&&v| v != 0).count();
    let labels = LabelMap::on_grid_of(
        &scan,
        volume.into_iter().map(u16::from).collect(),
        LabelTable { labels: vec![Label { value: 1, name: "object".into(), rgb: [255, 64, 64] }] },
    );
    let output = &args.output;
    std::fs::write(output, labels.encode_for(output)).map_err(|e| format!("cannot write {output}: {e}"))?;
    println!("wrote {output}: {count} voxels, {:.2} mL", scan.volume_ml(count as u64));
    Ok(())
}

/// CT soft tissue (-160, 240 HU) when the scan looks like CT (values below -500), else percentiles.
fn default_window(scan: &Volume) -> Window {
    let (lo, _) = scan.value_range().unwrap_or((0.0, 0.0));
    if lo < -500.0 {
        Window::Range { lo: -160.0, hi: 240.0 }
    } else {
        Window::Percentiles
    }
}

/// A PNG or JPEG: grey or colour channels in [0, 1].
fn read_picture(path: &str) -> Result<Vec<Image>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    decode_picture(&bytes, MAX_PICTURE_PIXELS).map_err(|e| format!("{path}: {e}"))
}

async fn segment_picture(medsam: &MedSam, channels: &[Image], prompt: [f32; 4], output: &str) -> Result<(), String> {
    let started = std::time::Instant::now();
    let embedding = medsam.encode(channels).await.map_err(|e| e.to_string())?;
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
