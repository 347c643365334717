//! `medseg bench`: per-stage decode times (median of several runs) and peak memory; with
//! `--medsam`, MedSAM's encoder and decoder times per slice; with `--model NAME`, a catalog
//! model's segmentation time per stage. `--backend` picks where networks run (peak GPU memory is
//! reported when it is the GPU).

use std::sync::Arc;
use std::time::Instant;

use medseg::medsam::image::{Image, Window};
use medseg::volume::read_scan;
use medseg::{Accelerator, ReadLimits, Segmenter};

use crate::backend::{self, BackendArg};
use crate::models::ModeArg;
use crate::threads::ThreadsArg;

/// Arguments of `medseg bench`.
#[derive(clap::Args)]
pub struct Args {
    /// Runs per file (the median is reported)
    #[arg(long, value_name = "N", default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// MedSAM's encoder and decoder on the middle axial slice of each scan
    #[arg(long, conflicts_with = "model")]
    medsam: bool,
    /// A segmentation model (catalog name or manifest path): seconds per stage, peak memory
    #[arg(long, value_name = "NAME|MANIFEST")]
    model: Option<String>,
    #[command(flatten)]
    mode: ModeArg,
    #[command(flatten)]
    backend: BackendArg,
    #[command(flatten)]
    threads: ThreadsArg,
    /// Scans (.nii, .nii.gz; .hdr/.img too with --medsam or --model)
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
}

/// Runs the decode benchmark on each file (or the MedSAM or model one).
pub async fn run(args: &Args) -> Result<(), String> {
    let runs = args.runs as usize;
    let files: Vec<&String> = args.files.iter().collect();
    if args.medsam || args.model.is_some() {
        println!("threads: {}", args.threads.install()?);
    }
    if args.medsam {
        return medsam_bench(&files, runs, args.backend).await;
    }
    if let Some(model) = &args.model {
        return model_bench(model, args.mode, &files, runs, args.backend).await;
    }
    println!("{:<40} {:>10} {:>10} {:>10} {:>12}", "file", "read ms", "decode ms", "f32 ms", "peak RSS MB");
    for path in files {
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        let (mut read_ms, mut decode_ms, mut f32_ms) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            let t0 = Instant::now();
            let bytes = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
            let t1 = Instant::now();
            let volume = read_scan(&bytes, ReadLimits::default()).map_err(|e| format!("{path}: {e}"))?;
            let t2 = Instant::now();
            let values = volume.volume_f32(0).map_err(|e| e.to_string())?;
            let t3 = Instant::now();
            std::hint::black_box(values);
            read_ms.push(ms(t1 - t0));
            decode_ms.push(ms(t2 - t1));
            f32_ms.push(ms(t3 - t2));
        }
        drop(bytes);
        let name = std::path::Path::new(path).file_name().map_or(path.clone(), |n| n.to_string_lossy().into());
        println!(
            "{name:<40} {:>10.1} {:>10.1} {:>10.1} {:>12}",
            median(&mut read_ms),
            median(&mut decode_ms),
            median(&mut f32_ms),
            peak_rss_mb().map_or("n/a".into(), |m| format!("{m:.0}"))
        );
    }
    Ok(())
}

/// MedSAM on the middle axial slice of each scan (CT soft-tissue window): encoder and decoder
/// (a centred box of half the slice) medians.
async fn medsam_bench(files: &[&String], runs: usize, backend: BackendArg) -> Result<(), String> {
    let mut model = crate::medsam::load()?;
    let accelerator = backend::open(backend).await?;
    model.use_accelerator(accelerator.clone());
    println!("{:<40} {:>12} {:>12} {:>12} {:>12}", "file", "encoder ms", "decoder ms", "peak RSS MB", "peak GPU MB");
    for path in files {
        let scan = crate::scan::open_scan(path)?;
        let index = scan.shape3()[2] / 2;
        let image = Image::slice_of(&scan, 2, index).ok_or("the scan has no axial slice")?;
        let unit = image.to_unit(Window::Range { lo: -160.0, hi: 240.0 });
        let prompt = [unit.cols as f32 / 4.0, unit.rows as f32 / 4.0, unit.cols as f32 * 0.75, unit.rows as f32 * 0.75];
        let (mut encode_ms, mut decode_ms) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let t0 = Instant::now();
            let embedding = model.encode(std::slice::from_ref(&unit)).await.map_err(|e| e.to_string())?;
            let t1 = Instant::now();
            std::hint::black_box(model.decode(&embedding, prompt).await.map_err(|e| e.to_string())?);
            let t2 = Instant::now();
            encode_ms.push(ms(t1 - t0));
            decode_ms.push(ms(t2 - t1));
        }
        let name =
            std::path::Path::new(path.as_str()).file_name().map_or(path.to_string(), |n| n.to_string_lossy().into());
        println!(
            "{name:<40} {:>12.1} {:>12.1} {:>12} {:>12}",
            median(&mut encode_ms),
            median(&mut decode_ms),
            peak_rss_mb().map_or("n/a".into(), |m| format!("{m:.0}")),
            peak_gpu_mb(&accelerator)
        );
    }
    backend::report(&accelerator);
    Ok(())
}

/// A catalog model on each scan: median seconds per pipeline stage and in all, peak memory.
async fn model_bench(
    name: &str,
    mode: ModeArg,
    files: &[&String],
    runs: usize,
    backend: BackendArg,
) -> Result<(), String> {
    let mut segmenter = Segmenter::new(crate::models::load_model(name, mode.mode())?).map_err(|e| e.to_string())?;
    let accelerator = backend::open(backend).await?;
    segmenter.use_accelerator(accelerator.clone());
    for path in files {
        let scan = crate::scan::open_scan(path)?;
        let mut per_stage: Vec<(String, Vec<f64>)> = Vec::new();
        let mut totals = Vec::new();
        for _ in 0..runs {
            let mut marks: Vec<(String, Instant)> = Vec::new();
            let started = Instant::now();
            let labels = segmenter
                .segment(&scan, &mut |stage, _| {
                    if marks.last().is_none_or(|(s, _)| s != stage) {
                        marks.push((stage.to_string(), Instant::now()));
                    }
                })
                .await
                .map_err(|e| e.to_string())?;
            let ended = Instant::now();
            std::hint::black_box(labels);
            totals.push((ended - started).as_secs_f64());
            marks.push((String::new(), ended));
            for pair in marks.windows(2) {
                let seconds = (pair[1].1 - pair[0].1).as_secs_f64();
                match per_stage.iter_mut().find(|(s, _)| *s == pair[0].0) {
                    Some((_, times)) => times.push(seconds),
                    None => per_stage.push((pair[0].0.clone(), vec![seconds])),
                }
            }
        }
        let stages: Vec<String> =
            per_stage.iter_mut().map(|(stage, times)| format!("{stage} {:.2} s", median(times))).collect();
        println!(
            "{name} on {path}: {:.2} s median of {runs} ({} network runs; {}); peak RSS {} MB, peak GPU {} MB",
            median(&mut totals),
            segmenter.network_runs(&scan).map_err(|e| e.to_string())?,
            stages.join(", "),
            peak_rss_mb().map_or("n/a".into(), |m| format!("{m:.0}")),
            peak_gpu_mb(&accelerator)
        );
    }
    backend::report(&accelerator);
    Ok(())
}

/// The most GPU memory medseg held at once, in MB ("-" on the CPU).
fn peak_gpu_mb(accelerator: &Option<Arc<Accelerator>>) -> String {
    accelerator.as_ref().map_or("-".into(), |a| format!("{:.0}", a.gpu.peak_bytes() as f64 / 1e6))
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Peak resident memory of this process so far (Linux `VmHWM`), in MB.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
