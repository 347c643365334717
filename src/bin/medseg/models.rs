//! `medseg segment`, `medseg eval` and `medseg models`: running catalog models on scans and
//! scoring label maps.

use std::io::Write;
use std::path::{Path, PathBuf};

use medseg::infer::pipeline::segment;
use medseg::metrics::{dice, hausdorff95};
use medseg::models::catalog::Catalog;
use medseg::models::manifest::{sha256_hex, Manifest};
use medseg::models::Model;
use medseg::volume::resample::Grid;

use crate::open_scan;

/// The models folder: `$MEDSEG_MODELS`, else `models/` here, else the source checkout's.
fn models_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("MEDSEG_MODELS") {
        return dir.into();
    }
    let here = PathBuf::from("models");
    if here.join("catalog.json").exists() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models")
}

fn catalog() -> Result<Catalog, String> {
    let path = models_dir().join("catalog.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Catalog::from_json(&text).map_err(|e| e.to_string())
}

/// A model by catalog name, or by the path of a manifest `.json` whose files lie beside it.
pub(crate) fn load_model(spec: &str) -> Result<Model, String> {
    let (manifest, dir) = if spec.ends_with(".json") && Path::new(spec).exists() {
        let text = std::fs::read_to_string(spec).map_err(|e| format!("cannot read {spec}: {e}"))?;
        let dir = Path::new(spec).parent().unwrap_or(Path::new(".")).to_path_buf();
        (Manifest::from_json(&text).map_err(|e| e.to_string())?, dir)
    } else {
        let manifest = catalog()?.get(spec).map_err(|e| e.to_string())?.clone();
        let dir = models_dir().join(&manifest.name);
        if !dir.join(&manifest.files[0].path).exists() {
            return Err(format!(
                "model {spec} is not available locally ({} missing): run `medseg models fetch {spec}`",
                dir.join(&manifest.files[0].path).display()
            ));
        }
        (manifest, dir)
    };
    Model::load(manifest, &mut |p| std::fs::read(dir.join(p)).map_err(|e| e.to_string())).map_err(|e| e.to_string())
}

/// `medseg segment --model NAME|MANIFEST SCAN -o OUT.nii.gz`
pub async fn segment_command(args: &[String]) -> Result<(), String> {
    let (backend, args) = crate::backend::take_backend(args)?;
    let (mut model, mut output, mut scan) = (None, None, None);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--model" | "-m" => model = it.next().cloned(),
            "-o" | "--output" => output = it.next().cloned(),
            other => scan = Some(other.to_string()),
        }
    }
    let usage = "usage: medseg segment --model NAME|MANIFEST.json SCAN -o OUT.nii.gz [--backend auto|gpu|cpu]";
    let (Some(model), Some(output), Some(scan)) = (model, output, scan) else { return Err(usage.into()) };
    let volume = open_scan(&scan)?;
    let mut model = load_model(&model)?;
    let accelerator = crate::backend::open(backend).await?;
    model.use_accelerator(accelerator.clone());
    let started = std::time::Instant::now();
    let mut last = String::new();
    let mut stages: Vec<(String, std::time::Instant)> = Vec::new();
    let labels = segment(&volume, &model, &mut |stage, fraction| {
        if stages.last().is_none_or(|(s, _)| s != stage) {
            stages.push((stage.to_string(), std::time::Instant::now()));
        }
        let line = format!("{stage} {:>3.0}%", fraction * 100.0);
        if line != last {
            eprint!("\r{line:<40}");
            let _ = std::io::stderr().flush();
            last = line;
        }
        true
    })
    .await
    .map_err(|e| e.to_string())?;
    let timings: Vec<String> =
        stages.windows(2).map(|w| format!("{} {:.2} s", w[0].0, (w[1].1 - w[0].1).as_secs_f64())).collect();
    eprintln!("\r{:<40}", format!("done in {:.1} s ({})", started.elapsed().as_secs_f64(), timings.join(", ")));
    crate::backend::report(&accelerator);
    std::fs::write(&output, labels.to_nii_gz()).map_err(|e| format!("cannot write {output}: {e}"))?;
    let sidecar = sidecar_path(&output);
    std::fs::write(&sidecar, labels.table.to_json()).map_err(|e| format!("cannot write {}: {e}", sidecar.display()))?;
    println!("wrote {output} and {}", sidecar.display());
    for (value, count) in labels.counts() {
        let name = labels.table.labels.iter().find(|l| l.value == value).map_or("", |l| l.name.as_str());
        println!("{value:>5} {name:<32} {count:>10} voxels {:>10.2} mL", volume.volume_ml(count));
    }
    Ok(())
}

/// `OUT.nii.gz` → `OUT.json`.
fn sidecar_path(output: &str) -> PathBuf {
    let stem = output.strip_suffix(".nii.gz").or_else(|| output.strip_suffix(".nii")).unwrap_or(output);
    PathBuf::from(format!("{stem}.json"))
}

/// `medseg eval PRED GT [--map FILE]`: Dice, HD95 (mm) and volumes (mL) per label.
/// `--map` is JSON `{"gt value": pred value, …}`; ground-truth values not in it become 0.
pub fn eval_command(args: &[String]) -> Result<(), String> {
    let mut map_file = None;
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--map" {
            map_file = it.next().cloned();
        } else {
            files.push(arg.clone());
        }
    }
    let [pred_path, gt_path] = files.as_slice() else { return Err("usage: medseg eval PRED GT [--map FILE]".into()) };
    let (pred, gt) = (open_scan(pred_path)?, open_scan(gt_path)?);
    if pred.shape3() != gt.shape3() {
        return Err(format!("the label maps have different grids: {:?} vs {:?}", pred.shape3(), gt.shape3()));
    }
    let as_labels =
        |v: &medseg::Volume| medseg::LabelMap::from_volume(v, 0).map(|m| m.values).map_err(|e| e.to_string());
    let pred_values = as_labels(&pred)?;
    let mut gt_values = as_labels(&gt)?;
    if let Some(path) = map_file {
        let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
        let map: std::collections::HashMap<String, u16> = serde_json::from_str(&text)
            .map_err(|e| format!("{path}: expected {{\"gt value\": pred value, …}}: {e}"))?;
        let mut lut = vec![0u16; 65536];
        for (k, v) in map {
            let k: u16 = k.parse().map_err(|_| format!("{path}: key {k:?} is not a label value"))?;
            lut[usize::from(k)] = v;
        }
        gt_values.iter_mut().for_each(|v| *v = lut[usize::from(*v)]);
    }
    let grid = Grid::of(&gt);
    let mut values: Vec<u16> = pred_values.iter().chain(&gt_values).copied().filter(|&v| v != 0).collect();
    values.sort_unstable();
    values.dedup();
    println!("{:>6} {:>8} {:>10} {:>12} {:>12}", "label", "Dice", "HD95 mm", "pred mL", "truth mL");
    let mut sum = 0.0;
    for &label in &values {
        let d = dice(&pred_values, &gt_values, label);
        sum += d;
        let hd = hausdorff95(&pred_values, &gt_values, label, &grid).map_or("—".to_string(), |h| format!("{h:.2}"));
        let count = |v: &[u16]| v.iter().filter(|&&x| x == label).count() as u64;
        println!(
            "{label:>6} {d:>8.4} {hd:>10} {:>12.2} {:>12.2}",
            pred.volume_ml(count(&pred_values)),
            gt.volume_ml(count(&gt_values))
        );
    }
    if !values.is_empty() {
        println!("mean Dice over {} labels: {:.4}", values.len(), sum / values.len() as f64);
    }
    Ok(())
}

/// `medseg models [list | fetch [--from DIR] [NAME...]]`
pub fn models_command(args: &[String]) -> Result<(), String> {
    let catalog = catalog()?;
    match args.first().map(String::as_str) {
        None | Some("list") => {
            for m in &catalog.models {
                let present = models_dir().join(&m.name).join(&m.files[0].path).exists();
                let size: u64 = m.files.iter().map(|f| f.bytes).sum();
                println!(
                    "{:<18} {:<8} {:>7.1} MB  {}  [{}]",
                    m.name,
                    if present { "local" } else { "fetch" },
                    size as f64 / 1e6,
                    m.title,
                    m.licence
                );
            }
            Ok(())
        }
        Some("fetch") => {
            let mut from = None;
            let mut names = Vec::new();
            let mut it = args[1..].iter();
            while let Some(a) = it.next() {
                if a == "--from" {
                    from = Some(PathBuf::from(it.next().ok_or("--from needs a folder")?));
                } else {
                    names.push(a.clone());
                }
            }
            let wanted: Vec<&Manifest> = if names.is_empty() {
                catalog.models.iter().collect()
            } else {
                names.iter().map(|n| catalog.get(n).map_err(|e| e.to_string())).collect::<Result<_, _>>()?
            };
            for m in wanted {
                fetch(&catalog, m, from.as_deref())?;
            }
            Ok(())
        }
        Some(other) => {
            Err(format!("unknown models command {other:?}: use `medseg models list` or `medseg models fetch`"))
        }
    }
}

/// Copies (from a local mirror) or downloads (from brainchop at the pinned commit) each file of
/// a model into the models folder, checking every SHA-256 before anything is written.
fn fetch(catalog: &Catalog, manifest: &Manifest, mirror: Option<&Path>) -> Result<(), String> {
    let dir = models_dir().join(&manifest.name);
    let mut files = Vec::new();
    for file in &manifest.files {
        let bytes = match mirror {
            Some(root) => {
                let path = root.join(&manifest.name).join(&file.path);
                std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?
            }
            None => download(&catalog.brainchop_url(&manifest.name, &file.path))?,
        };
        let digest = sha256_hex(&bytes);
        if digest != file.sha256 {
            return Err(format!(
                "{}/{}: SHA-256 {digest} does not match the pinned {}",
                manifest.name, file.path, file.sha256
            ));
        }
        files.push((file.path.clone(), bytes));
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for (path, bytes) in files {
        std::fs::write(dir.join(&path), bytes).map_err(|e| format!("cannot write {path}: {e}"))?;
    }
    println!("{}: {} file(s) verified into {}", manifest.name, manifest.files.len(), dir.display());
    Ok(())
}

/// Downloads with the system's `curl` (HTTPS, fails on HTTP errors).
fn download(url: &str) -> Result<Vec<u8>, String> {
    let out = std::process::Command::new("curl")
        .args(["--fail", "--silent", "--show-error", "--location", "--max-time", "120", url])
        .output()
        .map_err(|e| format!("cannot run curl to download {url}: {e}"))?;
    if !out.status.success() {
        return Err(format!("download of {url} failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(out.stdout)
}
