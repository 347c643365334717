//! The `medseg` command-line tool.

use std::process::ExitCode;

#[cfg(not(target_arch = "wasm32"))]
use pollster::block_on;

mod backend;
mod bench;
mod medsam;
mod models;

use medseg::info::ScanInfo;
use medseg::volume::{read_nifti, read_nifti_pair, ReadLimits, Volume};

const USAGE: &str = "\
medseg — open and segment medical scans (NIfTI-1)

usage:
  medseg info [--json] FILE...    header summary of each scan (.nii, .nii.gz, .hdr/.img)
  medseg segment --model NAME|MANIFEST SCAN -o OUT.nii.gz [--backend auto|gpu|cpu]
                                  segment a scan with a catalog model (+ OUT.json label names)
  medseg eval PRED GT [--map FILE]  Dice, HD95 (mm) and volumes (mL) per label
  medseg models [list]            the catalog, and which models are available locally
  medseg models fetch [--from DIR] [NAME...]
                                  fetch brainchop models (pinned SHA-256), or copy from a mirror
  medseg medsam SCAN|IMAGE --box x0,y0,x1,y1 [--slice AXIS:INDEX] [--propagate [--range FIRST:LAST]] -o OUT
                                  MedSAM: the object in a box (on a slice, or through the volume)
  medseg compare A B              same grid, affine (max difference) and voxels? exit 1 if not
  medseg bench [--runs N] FILE... decode benchmark: median ms per stage, peak memory
  medseg bench --medsam [--runs N] [--backend B] SCAN...  MedSAM encoder/decoder ms per slice
  medseg bench --model NAME [--runs N] [--backend B] SCAN...  segmentation: s per stage, peak memory
                                  --backend: auto (GPU if present and its self-check passes), gpu, cpu
  medseg help                     this text
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("info") => info(&args[1..]),
        Some("bench") => block_on(bench::run(&args[1..])),
        Some("compare") => compare(&args[1..]),
        Some("segment") => block_on(models::segment_command(&args[1..])),
        Some("eval") => models::eval_command(&args[1..]),
        Some("models") => models::models_command(&args[1..]),
        Some("medsam") => block_on(medsam::medsam_command(&args[1..])),
        Some("help" | "--help" | "-h") => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command {other:?}\n\n{USAGE}")),
        None => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("medseg: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a command that runs networks (asynchronous, see `Network::run`) to completion. The
/// wasm32 build of this binary, made only because the wasm test run builds every binary, has
/// no pollster: there the CPU runs finish on their first poll.
#[cfg(target_arch = "wasm32")]
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    match std::pin::pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the medseg command-line tool cannot wait for asynchronous work in wasm32"),
    }
}

/// `medseg info [--json] FILE...`: every file is reported; the exit code says whether all opened.
fn info(args: &[String]) -> Result<(), String> {
    let json = args.iter().any(|a| a == "--json");
    let files: Vec<&String> = args.iter().filter(|a| *a != "--json").collect();
    if files.is_empty() {
        return Err(format!("info needs at least one file\n\n{USAGE}"));
    }
    let mut failures = Vec::new();
    let mut reports = Vec::new();
    for path in files {
        match open_scan(path) {
            Ok(volume) => {
                let summary = ScanInfo::of(&volume);
                if json {
                    reports.push(serde_json::json!({ "file": path, "info": summary }));
                } else {
                    println!("{path}\n{summary}");
                }
            }
            Err(message) => {
                if json {
                    reports.push(serde_json::json!({ "file": path, "error": message }));
                }
                failures.push(format!("{path}: {message}"));
            }
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&reports).expect("JSON values serialise"));
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\nmedseg: "))
    }
}

/// `medseg compare A B`: whether two scans share dims, affine and every voxel value.
fn compare(args: &[String]) -> Result<(), String> {
    let [a, b] = args else {
        return Err(format!("compare needs exactly two files\n\n{USAGE}"));
    };
    let (va, vb) = (open_scan(a)?, open_scan(b)?);
    if va.dims != vb.dims {
        return Err(format!("dims differ: {:?} vs {:?}", va.dims, vb.dims));
    }
    let affine_diff = (0..4)
        .flat_map(|r| (0..4).map(move |c| (r, c)))
        .map(|(r, c)| (va.geometry.affine[r][c] - vb.geometry.affine[r][c]).abs())
        .fold(0.0, f64::max);
    let mut differing = 0u64;
    for t in 0..va.volume_count() {
        let (fa, fb) = (va.volume_f32(t).map_err(|e| e.to_string())?, vb.volume_f32(t).map_err(|e| e.to_string())?);
        differing += fa.iter().zip(&fb).filter(|(x, y)| x != y && !(x.is_nan() && y.is_nan())).count() as u64;
    }
    println!("dims            {:?} (equal)", va.dims);
    println!("orientation     {} vs {}", va.geometry.orientation(), vb.geometry.orientation());
    println!("affine max |Δ|  {affine_diff:e}");
    println!("voxels differing {differing} of {}", va.voxels.len());
    if affine_diff > 1e-6 || differing > 0 {
        return Err("the files differ".into());
    }
    Ok(())
}

/// Reads a scan from a path; a `.hdr` (or `.hdr.gz`) is read with its `.img` beside it.
pub(crate) fn open_scan(path: &str) -> Result<Volume, String> {
    let read = |p: &str| std::fs::read(p).map_err(|e| format!("cannot read {p}: {e}"));
    let bytes = read(path)?;
    let limits = ReadLimits::default();
    let result = if let Some(stem) = path.strip_suffix(".hdr").or_else(|| path.strip_suffix(".hdr.gz")) {
        let img_path = [".img", ".img.gz"]
            .iter()
            .map(|ext| format!("{stem}{ext}"))
            .find(|p| std::path::Path::new(p).exists())
            .ok_or_else(|| format!("the header {path} needs its image file {stem}.img beside it"))?;
        read_nifti_pair(&bytes, &read(&img_path)?, limits)
    } else {
        read_nifti(&bytes, limits)
    };
    result.map_err(|e| e.to_string())
}
