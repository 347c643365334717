//! `medseg models [list | fetch [--from DIR] [NAME...]]`, and finding a model by name for the
//! commands that run one. Catalog entries are checked before any path is built from them: a
//! model's name and file paths must be plain relative names that stay inside its folder.

use std::path::{Path, PathBuf};

use indicatif::ProgressBar;
use medseg::models::catalog::Catalog;
use medseg::models::manifest::{sha256_hex, Manifest, RunMode};
use medseg::Model;

/// Arguments of `medseg models`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// The catalog, and which models are here (the default)
    List,
    /// Fetch models into the models folder: from brainchop at the pinned commit, or copied from
    /// a local mirror; every file is checked against its pinned SHA-256 before it is written.
    /// Models already here (verified) are left as they are
    Fetch(FetchArgs),
}

#[derive(clap::Args)]
struct FetchArgs {
    /// Copy from a mirror folder laid out as DIR/MODEL/FILE instead of downloading
    #[arg(long, value_name = "DIR")]
    from: Option<PathBuf>,
    /// The models to fetch (default: every model of the catalog)
    #[arg(value_name = "NAME")]
    names: Vec<String>,
}

/// Runs `medseg models`.
pub fn run(args: &Args) -> Result<(), String> {
    match &args.command {
        None | Some(Command::List) => list(),
        Some(Command::Fetch(fetch)) => fetch_command(fetch),
    }
}

/// The models folder of this installation: `$MEDSEG_MODELS`, else `share/medseg/models` beside the
/// executable's folder (an installed copy), else the source checkout the binary was built from.
/// Never the current directory: a `models/` folder wherever the user happens to stand is not
/// trusted.
pub fn models_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("MEDSEG_MODELS") {
        return dir.into();
    }
    let installed = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("share/medseg/models")))
        .filter(|dir| dir.join("catalog.json").is_file());
    installed.unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("models"))
}

fn catalog() -> Result<Catalog, String> {
    let path = models_dir().join("catalog.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Catalog::from_json(&text).map_err(|e| e.to_string())
}

/// Refuses a manifest whose name or files could not be used safely (see `Manifest::check`).
fn check_manifest(manifest: &Manifest) -> Result<(), String> {
    manifest.check().map_err(|e| e.to_string())
}

/// Whether every file of a (checked) manifest is in `dir`.
fn all_present(manifest: &Manifest, dir: &Path) -> bool {
    manifest.files.iter().all(|f| dir.join(&f.path).exists())
}

/// The `--mode` option of the commands that run a segmentation model.
#[derive(clap::Args, Clone, Copy, Debug)]
pub struct ModeArg {
    /// For models with folds or test-time mirroring (hd-bet): `fast` runs the first fold without
    /// mirroring, `accurate` every fold with every mirroring (fold count × 8 times the work)
    #[arg(long, value_name = "MODE", default_value = "fast")]
    mode: ModeName,
}

/// The run modes by name.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum ModeName {
    Fast,
    Accurate,
}

impl ModeArg {
    /// The mode asked for.
    pub fn mode(&self) -> RunMode {
        match self.mode {
            ModeName::Fast => RunMode::Fast,
            ModeName::Accurate => RunMode::Accurate,
        }
    }
}

/// A model by catalog name, or by the path of a manifest `.json` whose files lie beside it, as
/// `mode` runs it (only the files that mode needs are read).
pub fn load_model(spec: &str, mode: RunMode) -> Result<Model, String> {
    let (manifest, dir) = if spec.ends_with(".json") && Path::new(spec).exists() {
        let text = std::fs::read_to_string(spec).map_err(|e| format!("cannot read {spec}: {e}"))?;
        let dir = Path::new(spec).parent().unwrap_or(Path::new(".")).to_path_buf();
        let manifest = Manifest::from_json(&text).map_err(|e| e.to_string())?;
        check_manifest(&manifest).map_err(|e| format!("{spec}: {e}"))?;
        (manifest, dir)
    } else {
        let manifest = catalog()?.get(spec).map_err(|e| e.to_string())?.clone();
        check_manifest(&manifest)?;
        let dir = models_dir().join(&manifest.name);
        if let Some(missing) = manifest.files.iter().map(|f| dir.join(&f.path)).find(|p| !p.exists()) {
            return Err(format!(
                "model {spec} is not available locally ({} missing): run `medseg models fetch {spec}`",
                missing.display()
            ));
        }
        (manifest, dir)
    };
    let manifest = manifest.for_mode(mode);
    let declared: std::collections::HashMap<String, u64> =
        manifest.files.iter().map(|f| (f.path.clone(), f.bytes)).collect();
    Model::load(manifest, &mut |p| read_declared(&dir.join(p), declared.get(p).copied().unwrap_or(0)))
        .map_err(|e| e.to_string())
}

/// Reads a model file that should hold `declared` bytes: only a regular file, and never more than
/// one byte past what is declared (so a wrong path such as a device or a huge file is refused
/// without reading it all).
pub fn read_declared(path: &Path, declared: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let metadata = file.metadata().map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !metadata.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    let mut bytes = Vec::new();
    file.take(declared.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() as u64 > declared {
        return Err(format!("{} is larger than the {declared} bytes its manifest declares", path.display()));
    }
    Ok(bytes)
}

/// `medseg models list`: one line per model; an entry that cannot be used is listed as
/// `invalid`, explained on stderr, and makes the exit status 1.
fn list() -> Result<(), String> {
    let catalog = catalog()?;
    let mut invalid = Vec::new();
    for m in &catalog.models {
        let status = match check_manifest(m) {
            Ok(()) if all_present(m, &models_dir().join(&m.name)) => "local",
            Ok(()) => "fetch",
            Err(e) => {
                invalid.push(e);
                "invalid"
            }
        };
        let size: u64 = m.files.iter().map(|f| f.bytes).sum();
        println!("{:<18} {:<8} {:>7.1} MB  {}  [{}]", m.name, status, size as f64 / 1e6, m.title, m.licence);
    }
    if invalid.is_empty() {
        Ok(())
    } else {
        Err(format!("{}: {}", models_dir().join("catalog.json").display(), invalid.join("; ")))
    }
}

/// `medseg models fetch`: every model asked for (all by default) is tried; the ones that fail
/// are reported and make the exit status 1, after the others are fetched.
fn fetch_command(args: &FetchArgs) -> Result<(), String> {
    let catalog = catalog()?;
    let wanted: Vec<&Manifest> = if args.names.is_empty() {
        catalog.models.iter().collect()
    } else {
        args.names.iter().map(|n| catalog.get(n).map_err(|e| e.to_string())).collect::<Result<_, _>>()?
    };
    let total: u64 = wanted.iter().flat_map(|m| &m.files).map(|f| f.bytes).sum();
    let bar = crate::progress::bar(total, "{spinner} {msg:<36} [{bar:30}] {bytes}/{total_bytes}  {elapsed}");
    let mut failed = Vec::new();
    for manifest in &wanted {
        match fetch(&catalog, manifest, args.from.as_deref(), &bar) {
            Ok(report) => bar.suspend(|| println!("{report}")),
            Err(e) => {
                bar.suspend(|| eprintln!("medseg: {}: {e}", manifest.name));
                failed.push(manifest.name.as_str());
            }
        }
    }
    bar.finish_and_clear();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("{} of {} model(s) not fetched: {}", failed.len(), wanted.len(), failed.join(", ")))
    }
}

/// Copies (from a local mirror) or downloads (from brainchop at the pinned commit) each file of
/// a model into the models folder, checking every SHA-256 before anything is written. A model
/// whose files are all here with their pinned SHA-256 (a committed one, or one fetched before)
/// is left alone. Returns the line to print.
fn fetch(catalog: &Catalog, manifest: &Manifest, mirror: Option<&Path>, bar: &ProgressBar) -> Result<String, String> {
    check_manifest(manifest)?;
    let dir = models_dir().join(&manifest.name);
    let verified = |path: &Path, sha256: &str| std::fs::read(path).is_ok_and(|bytes| sha256_hex(&bytes) == sha256);
    if manifest.files.iter().all(|f| verified(&dir.join(&f.path), &f.sha256)) {
        bar.inc(manifest.files.iter().map(|f| f.bytes).sum());
        return Ok(format!(
            "{}: {} file(s) already here, verified in {}",
            manifest.name,
            manifest.files.len(),
            dir.display()
        ));
    }
    let mut files = Vec::new();
    for file in &manifest.files {
        bar.set_message(format!("{}/{}", manifest.name, file.path));
        let bytes = match mirror {
            Some(root) => read_declared(&root.join(&manifest.name).join(&file.path), file.bytes)?,
            None => download(&catalog.brainchop_url(&manifest.name, &file.path), file.bytes)?,
        };
        let digest = sha256_hex(&bytes);
        if digest != file.sha256 {
            return Err(format!("{}: SHA-256 {digest} does not match the pinned {}", file.path, file.sha256));
        }
        bar.inc(file.bytes);
        files.push((dir.join(&file.path), bytes));
    }
    for (path, bytes) in files {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(format!("{}: {} file(s) verified into {}", manifest.name, manifest.files.len(), dir.display()))
}

/// Downloads with the system's `curl`: HTTPS only (redirects too), failing on HTTP errors and on
/// a body larger than the `max_bytes` the manifest declares.
fn download(url: &str, max_bytes: u64) -> Result<Vec<u8>, String> {
    let out = std::process::Command::new("curl")
        .args(["--fail", "--silent", "--show-error", "--location", "--max-time", "120"])
        .args(["--proto", "=https", "--proto-redir", "=https", "--max-filesize", &max_bytes.to_string(), url])
        .output()
        .map_err(|e| format!("cannot run curl to download {url}: {e}"))?;
    if !out.status.success() {
        return Err(format!("download of {url} failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(out.stdout)
}
