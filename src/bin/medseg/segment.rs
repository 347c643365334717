//! `medseg segment --model NAME|MANIFEST SCAN… -o OUT`: a catalog model on one scan (OUT is the
//! label map, its label names beside it as OUT.json) or on many (scans or folders of scans; OUT is
//! a folder that gets one label map per scan and `volumes.csv`, the label volumes in mL per scan).
//! In a batch, `--jobs J` scans run at once, each on `--threads N`; a scan that fails is reported
//! and skipped.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use medseg::{LabelMap, Segmenter, Volume};

use crate::backend::{self, BackendArg};
use crate::models::ModeArg;
use crate::progress::Stages;
use crate::scan::open_scan;
use crate::threads::ThreadsArg;

/// Arguments of `medseg segment`.
#[derive(clap::Args)]
pub struct Args {
    /// A catalog model's name (see `medseg models list`), or the path of a manifest .json whose
    /// files lie beside it
    #[arg(short, long, value_name = "NAME|MANIFEST")]
    model: String,
    /// Scans (.nii, .nii.gz, or .hdr with its .img beside it), or folders holding them
    #[arg(required = true, value_name = "SCAN")]
    scans: Vec<String>,
    /// One scan: the label map to write (.nii.gz or .nii; the label names go to OUT.json beside
    /// it). Several scans or a folder: the folder to write them to
    #[arg(short, long, value_name = "OUT")]
    output: String,
    /// Scans segmented at once in a batch (each with its own --threads)
    #[arg(long, value_name = "J", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    jobs: u16,
    #[command(flatten)]
    mode: ModeArg,
    #[command(flatten)]
    threads: ThreadsArg,
    #[command(flatten)]
    backend: BackendArg,
}

/// Runs `medseg segment`.
pub async fn run(args: &Args) -> Result<(), String> {
    // One file, or a folder of DICOM files (no scan files in it): one scan; else a cohort.
    if args.scans.len() == 1 && !holds_scan_files(Path::new(&args.scans[0])) {
        return segment_one(args).await;
    }
    segment_batch(args)
}

async fn segment_one(args: &Args) -> Result<(), String> {
    let volume = open_scan(&args.scans[0])?;
    let model = crate::models::load_model(&args.model, args.mode.mode())?;
    let mut segmenter = Segmenter::new(model).map_err(|e| e.to_string())?;
    eprintln!("{} network run(s) for this scan", segmenter.network_runs(&volume).map_err(|e| e.to_string())?);
    let threads = args.threads.install()?;
    let accelerator = backend::open(args.backend).await?;
    segmenter.use_accelerator(accelerator.clone());
    let mut stages = Stages::new();
    let result = segmenter.segment(&volume, &mut |stage, fraction| stages.update(stage, fraction)).await;
    let summary = stages.finish();
    let labels = result.map_err(|e| e.to_string())?;
    eprintln!("{summary} on {threads} thread(s)");
    backend::report(&accelerator);
    write_labels(&labels, &args.output)?;
    println!("wrote {} and {}", args.output, sidecar_path(&args.output).display());
    for (value, count) in labels.counts() {
        let name = labels.table.labels.iter().find(|l| l.value == value).map_or("", |l| l.name.as_str());
        println!("{value:>5} {name:<32} {count:>10} voxels {:>10.2} mL", volume.volume_ml(count));
    }
    Ok(())
}

/// Writes a label map and its sidecar.
fn write_labels(labels: &LabelMap, output: &str) -> Result<(), String> {
    std::fs::write(output, labels.encode_for(output)).map_err(|e| format!("cannot write {output}: {e}"))?;
    let sidecar = sidecar_path(output);
    std::fs::write(&sidecar, labels.table.to_json()).map_err(|e| format!("cannot write {}: {e}", sidecar.display()))
}

/// `OUT.nii.gz` (or `.mgz`, `.seg.nrrd`, …) → `OUT.json`: a label map's sidecar of names and colours.
pub fn sidecar_path(output: &str) -> PathBuf {
    let stem = [".nii.gz", ".nii", ".mgz", ".mgh", ".seg.nrrd", ".nrrd"]
        .iter()
        .find_map(|ext| output.strip_suffix(ext))
        .unwrap_or(output);
    PathBuf::from(format!("{stem}.json"))
}

/// A scan file by its name: NIfTI (.nii, .nii.gz, .hdr), MGH/MGZ or NRRD (.nrrd, .nhdr).
fn is_scan(p: &Path) -> bool {
    let name = p.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    p.is_file()
        && [".nii", ".nii.gz", ".hdr", ".hdr.gz", ".mgz", ".mgh", ".nrrd", ".nhdr"].iter().any(|e| name.ends_with(e))
}

/// A folder with scan files in it (a cohort), as opposed to a file or a DICOM folder.
fn holds_scan_files(path: &Path) -> bool {
    path.is_dir()
        && std::fs::read_dir(path).is_ok_and(|entries| entries.filter_map(Result::ok).any(|e| is_scan(&e.path())))
}

/// The scans named, folders replaced by the scans in them (sorted; not recursive); a folder with
/// no scan files in it is one scan (a DICOM series).
fn scan_paths(named: &[String]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for name in named {
        let path = PathBuf::from(name);
        if path.is_dir() {
            let entries = std::fs::read_dir(&path).map_err(|e| format!("cannot list {name}: {e}"))?;
            let mut found: Vec<PathBuf> =
                entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| is_scan(p)).collect();
            found.sort();
            if found.is_empty() {
                out.push(path); // a DICOM folder: open_scan reads its series
            } else {
                out.extend(found);
            }
        } else {
            out.push(path);
        }
    }
    Ok(out)
}

/// A scan's name without its extension.
fn stem(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    [".nii.gz", ".nii", ".hdr.gz", ".hdr"].iter().find_map(|e| name.strip_suffix(e).map(str::to_string)).unwrap_or(name)
}

/// Each label's name and volume (mL), by label value.
type Volumes = BTreeMap<u16, (String, f64)>;

/// What a batch learnt about one scan: seconds and label volumes, or why it failed.
struct Row {
    scan: String,
    outcome: Result<(f64, Volumes), String>,
}

fn segment_batch(args: &Args) -> Result<(), String> {
    let scans = scan_paths(&args.scans)?;
    let out_dir = PathBuf::from(&args.output);
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("cannot create the folder {}: {e}", out_dir.display()))?;
    let mut stems: Vec<String> = scans.iter().map(|p| stem(p)).collect();
    stems.sort();
    if let Some(twin) = stems.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("two scans are named {}: their label maps would overwrite each other", twin[0]));
    }
    let jobs = usize::from(args.jobs).min(scans.len());
    let threads = args.threads.count();
    medseg::engine::threads::use_threads(threads);
    eprintln!("{} scans, {jobs} at a time, {threads} thread(s) each", scans.len());
    let queue = Mutex::new(scans.iter().enumerate().collect::<VecDeque<_>>());
    let rows = Mutex::new(Vec::new());
    let total = scans.len();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                let pool = match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
                    Ok(pool) => pool,
                    Err(e) => return eprintln!("medseg: cannot start {threads} threads: {e}"),
                };
                let mut segmenter = None;
                while let Some((index, path)) = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front() {
                    let started = Instant::now();
                    let outcome = pool.install(|| segment_into(args, &mut segmenter, path, &out_dir));
                    match &outcome {
                        Ok(_) => eprintln!(
                            "[{}/{total}] {}: done in {:.1} s",
                            index + 1,
                            path.display(),
                            started.elapsed().as_secs_f64()
                        ),
                        Err(e) => eprintln!("[{}/{total}] {}: failed, skipped: {e}", index + 1, path.display()),
                    }
                    let seconds = started.elapsed().as_secs_f64();
                    let row = Row { scan: path.display().to_string(), outcome: outcome.map(|v| (seconds, v)) };
                    rows.lock().unwrap_or_else(|e| e.into_inner()).push((index, row));
                }
            });
        }
    });
    let mut rows = rows.into_inner().unwrap_or_else(|e| e.into_inner());
    rows.sort_by_key(|(index, _)| *index);
    let csv = out_dir.join("volumes.csv");
    std::fs::write(&csv, volumes_csv(rows.iter().map(|(_, r)| r)))
        .map_err(|e| format!("cannot write {}: {e}", csv.display()))?;
    let failed: Vec<&str> = rows.iter().filter(|(_, r)| r.outcome.is_err()).map(|(_, r)| r.scan.as_str()).collect();
    println!("wrote {} label maps and {}", total - failed.len(), csv.display());
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("{} of {total} scans failed: {}", failed.len(), failed.join(", ")))
    }
}

/// Segments one scan of a batch with the job's model (loaded on first use); returns the label
/// volumes (mL by value, with names).
fn segment_into(
    args: &Args,
    segmenter: &mut Option<Segmenter>,
    path: &Path,
    out_dir: &Path,
) -> Result<Volumes, String> {
    let volume: Volume = open_scan(&path.to_string_lossy())?;
    if segmenter.is_none() {
        let mut loaded =
            Segmenter::new(crate::models::load_model(&args.model, args.mode.mode())?).map_err(|e| e.to_string())?;
        loaded.use_accelerator(pollster::block_on(backend::open(args.backend))?);
        *segmenter = Some(loaded);
    }
    let model = segmenter.as_ref().expect("loaded above");
    let labels = pollster::block_on(model.segment(&volume, &mut |_, _| {})).map_err(|e| e.to_string())?;
    let output = out_dir.join(format!("{}.nii.gz", stem(path)));
    write_labels(&labels, &output.to_string_lossy())?;
    let name = |value: u16| {
        labels.table.labels.iter().find(|l| l.value == value).map_or(format!("label {value}"), |l| l.name.clone())
    };
    Ok(labels.counts().into_iter().map(|(value, count)| (value, (name(value), volume.volume_ml(count)))).collect())
}

/// One line per scan: its name, "ok" or the error, seconds, then each label's volume in mL.
fn volumes_csv<'r>(rows: impl Iterator<Item = &'r Row> + Clone) -> String {
    let mut labels: BTreeMap<u16, String> = BTreeMap::new();
    for row in rows.clone() {
        if let Ok((_, volumes)) = &row.outcome {
            for (value, (name, _)) in volumes {
                labels.entry(*value).or_insert_with(|| name.clone());
            }
        }
    }
    let quote = |text: &str| format!("\"{}\"", text.replace('"', "\"\""));
    let mut out = String::from("scan,status,seconds");
    for (value, name) in &labels {
        out.push_str(&format!(",{}", quote(&format!("{value} {name} (mL)"))));
    }
    out.push('\n');
    for row in rows {
        match &row.outcome {
            Ok((seconds, volumes)) => {
                out.push_str(&format!("{},ok,{seconds:.2}", quote(&row.scan)));
                for value in labels.keys() {
                    out.push_str(&format!(",{:.3}", volumes.get(value).map_or(0.0, |(_, ml)| *ml)));
                }
            }
            Err(e) => {
                out.push_str(&format!("{},{},", quote(&row.scan), quote(&format!("failed: {e}"))));
                out.push_str(&",".repeat(labels.len()));
            }
        }
        out.push('\n');
    }
    out
}
