//! The `medseg` command line, run as a user runs it: help for every command, unknown options
//! refused (status 2), and clear errors (status 1, never a panic) for catalogs and boxes that
//! cannot be used.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::Digest;

/// A fresh folder under the system's temporary directory, removed afterwards.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("medseg-cli-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `medseg args…` with `MEDSEG_MODELS=models` when given.
pub(crate) fn medseg(args: &[&str], models: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_medseg"));
    command.args(args).env_remove("MEDSEG_MODELS");
    if let Some(dir) = models {
        command.env("MEDSEG_MODELS", dir);
    }
    command.output().unwrap()
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The exit status is `code` and stderr mentions `text`.
pub(crate) fn assert_fails(o: &Output, code: i32, text: &str) {
    assert_eq!(o.status.code(), Some(code), "stderr: {}", stderr(o));
    assert!(stderr(o).contains(text), "stderr should mention {text:?}: {}", stderr(o));
}

/// An uncompressed NIfTI-1 scan of 4 × 3 × 2 uint8 voxels, 1 mm.
pub(crate) fn tiny_scan(dir: &Path) -> String {
    let path = dir.join("tiny.nii");
    std::fs::write(&path, super::hardening::nifti_bytes(&[4, 3, 2], (2, 8), 1.0, b"", &(0u8..24).collect::<Vec<_>>()))
        .unwrap();
    path.to_str().unwrap().to_string()
}

fn sha256(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A catalog entry: the model's name and its files as `(path, contents)`.
type Entry<'a> = (&'a str, &'a [(&'a str, &'a [u8])]);

/// A models folder whose catalog holds copies of a real manifest, one per entry.
fn models_folder(dir: &Path, models: &[Entry]) -> PathBuf {
    let real: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/models/catalog.json")).unwrap(),
    )
    .unwrap();
    let template = real["models"].as_array().unwrap().iter().find(|m| m["name"] == "model5_gw_ae").unwrap();
    let manifests: Vec<serde_json::Value> = models
        .iter()
        .map(|(name, files)| {
            let mut m = template.clone();
            m["name"] = (*name).into();
            m["files"] = files
                .iter()
                .map(|(path, bytes)| serde_json::json!({ "path": path, "sha256": sha256(bytes), "bytes": bytes.len() }))
                .collect();
            m
        })
        .collect();
    let catalog = serde_json::json!({ "brainchop_commit": real["brainchop_commit"], "models": manifests });
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("catalog.json"), catalog.to_string()).unwrap();
    dir.to_path_buf()
}

#[test]
fn every_command_has_help_and_the_exit_statuses_are_documented() {
    let top = medseg(&["--help"], None);
    assert_eq!(top.status.code(), Some(0));
    for text in ["Exit status", "segment", "medsam", "models", "bench"] {
        assert!(stdout(&top).contains(text), "medseg --help should mention {text:?}: {}", stdout(&top));
    }
    for command in [
        "info",
        "segment",
        "eval",
        "models",
        "models fetch",
        "models list",
        "medsam",
        "mesh",
        "compare",
        "bench",
        "profile",
    ] {
        let mut args: Vec<&str> = command.split(' ').collect();
        args.push("--help");
        let help = medseg(&args, None);
        assert_eq!(help.status.code(), Some(0), "{command} --help: {}", stderr(&help));
        assert!(stdout(&help).contains(&format!("Usage: medseg {command}")), "{command}: {}", stdout(&help));
    }
    let segment = stdout(&medseg(&["segment", "--help"], None));
    assert!(["--backend <BACKEND>", "--threads <N>", "--jobs <J>"].iter().all(|o| segment.contains(o)), "{segment}");
}

#[test]
fn profile_times_every_node_and_the_output_softmax_as_json_lines() {
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/models/deepbet/deepbet_bbox_w8.onnx");
    let o = medseg(&["profile", model, "--shape", "1,1,32,32,32", "--runs", "1", "--threads", "1"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(rows.len() > 100, "one row per tract node: {} rows", rows.len());
    assert!(rows.iter().all(|r| r["name"].is_string() && r["op"].is_string() && r["ms"].as_f64().unwrap() >= 0.0));
    assert!(rows.iter().any(|r| r["name"].as_str().unwrap().starts_with("/init/0/Conv")), "ONNX names carried over");
    let last = rows.last().unwrap();
    assert_eq!((last["name"].as_str(), last["op"].as_str()), (Some("/Softmax"), Some("Softmax")));
    assert_fails(&medseg(&["profile", model, "--shape", "1,x"], None), 2, "positive sizes");
    assert_fails(&medseg(&["profile", model, "--shape", "1,1,32,32"], None), 1, "input");
}

#[test]
fn unknown_commands_and_options_are_refused_with_status_2() {
    let dir = TempDir::new("unknown");
    let scan = tiny_scan(&dir.0);
    let out = dir.0.join("out.nii.gz");
    let o = medseg(&["segment", "--model", "deepbet", &scan, "-o", out.to_str().unwrap(), "--turbo", "2"], None);
    assert_fails(&o, 2, "--turbo");
    assert!(!out.exists());
    assert_fails(&medseg(&["frobnicate"], None), 2, "frobnicate");
    assert_fails(&medseg(&["info"], None), 2, "FILE");
    assert_fails(&medseg(&["bench", "--runs", "0", &scan], None), 2, "--runs");
    assert_fails(
        &medseg(&["medsam", &scan, "--box", "0,0,1,1", "--range", "0:1", "-o", "x.nii.gz"], None),
        2,
        "--propagate",
    );
    // No command: the help, as an error.
    assert_fails(&medseg(&[], None), 2, "Usage: medseg");
}

#[test]
fn a_catalog_model_without_files_is_an_error_not_a_panic() {
    let dir = TempDir::new("nofiles");
    let models = models_folder(&dir.0.join("models"), &[("empty", &[])]);
    let listed = medseg(&["models", "list"], Some(&models));
    assert_fails(&listed, 1, "\"files\" lists no file");
    assert!(stdout(&listed).contains("empty"), "the entry is still listed: {}", stdout(&listed));
    let scan = tiny_scan(&dir.0);
    let o =
        medseg(&["segment", "--model", "empty", &scan, "-o", dir.0.join("o.nii.gz").to_str().unwrap()], Some(&models));
    assert_fails(&o, 1, "\"files\" lists no file");
    assert_fails(&medseg(&["models", "fetch", "empty"], Some(&models)), 1, "\"files\" lists no file");
}

#[test]
fn fetch_refuses_file_paths_that_leave_the_models_folder() {
    let dir = TempDir::new("traversal");
    let payload = b"not a model";
    // The mirror's copy: mirror/evil/../../PAYLOAD.txt; the write would land in a/PAYLOAD.txt.
    std::fs::create_dir_all(dir.0.join("mirror/evil")).unwrap();
    std::fs::write(dir.0.join("PAYLOAD.txt"), payload).unwrap();
    let absolute = dir.0.join("a/ABSOLUTE.txt");
    let absolute = absolute.to_str().unwrap();
    let models = models_folder(
        &dir.0.join("a/models"),
        &[("evil", &[("../../PAYLOAD.txt", payload)]), ("rooted", &[(absolute, payload)])],
    );
    let mirror = dir.0.join("mirror");
    let o = medseg(&["models", "fetch", "--from", mirror.to_str().unwrap()], Some(&models));
    assert_fails(&o, 1, "\"../../PAYLOAD.txt\" is not a plain relative path");
    assert!(stderr(&o).contains("is not a plain relative path"), "{}", stderr(&o));
    assert!(!dir.0.join("a/PAYLOAD.txt").exists(), "a file was written outside the models folder");
    assert!(!Path::new(absolute).exists(), "a file was written at an absolute path");
    for name in ["evil", "rooted"] {
        assert_fails(
            &medseg(&["models", "fetch", "--from", mirror.to_str().unwrap(), name], Some(&models)),
            1,
            "plain relative path",
        );
    }
}

#[test]
fn fetch_without_names_fetches_every_fetchable_model_and_reports_the_others() {
    let dir = TempDir::new("fetchall");
    let (committed, fetchable): (&[u8], &[u8]) = (b"committed weights", b"fetchable weights");
    let models = dir.0.join("models");
    let mirror = dir.0.join("mirror");
    // `committed` is already here (like deepbet), `missing` is nowhere, `fetchable` is in the mirror.
    std::fs::create_dir_all(models.join("committed")).unwrap();
    std::fs::write(models.join("committed/w.bin"), committed).unwrap();
    std::fs::create_dir_all(mirror.join("fetchable/sub")).unwrap();
    std::fs::write(mirror.join("fetchable/sub/w.bin"), fetchable).unwrap();
    let entries: [Entry; 3] = [
        ("committed", &[("w.bin", committed)]),
        ("missing", &[("w.bin", b"gone")]),
        ("fetchable", &[("sub/w.bin", fetchable)]),
    ];
    models_folder(&models, &entries);
    let from = ["models", "fetch", "--from", mirror.to_str().unwrap()];
    let o = medseg(&from, Some(&models));
    assert_fails(&o, 1, "missing");
    assert!(stderr(&o).contains("1 of 3 model(s) not fetched: missing"), "{}", stderr(&o));
    assert_eq!(std::fs::read(models.join("fetchable/sub/w.bin")).unwrap(), fetchable);
    assert!(stdout(&o).contains("committed: 1 file(s) already here"), "{}", stdout(&o));
    assert!(stdout(&o).contains("fetchable: 1 file(s) verified into"), "{}", stdout(&o));
    // Without the unfetchable one, everything succeeds; `models list` shows both here.
    models_folder(&models, &[entries[0], entries[2]]);
    let again = medseg(&from, Some(&models));
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    let listed = stdout(&medseg(&["models"], Some(&models)));
    assert_eq!(listed.lines().filter(|l| l.contains(" local ")).count(), 2, "{listed}");
}

#[test]
fn medsam_refuses_boxes_that_are_not_finite_or_not_inside_the_image() {
    let dir = TempDir::new("box");
    let scan = tiny_scan(&dir.0); // axial slices: 4 rows (i) × 3 columns (j)
    let out = dir.0.join("mask.nii.gz");
    let run = |extra: &[&str]| {
        let mut args = vec!["medsam", scan.as_str(), "-o", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        medseg(&args, None)
    };
    assert_fails(&run(&["--box", "nan,0,1,1"]), 2, "finite");
    assert_fails(&run(&["--box", "0,0,1e39,1"]), 2, "finite"); // beyond f32: infinity
    assert_fails(&run(&["--box", "0,0,inf,1"]), 2, "finite");
    assert_fails(&run(&["--box", "0,0,1"]), 2, "4 numbers");
    assert_fails(&run(&["--box", "2,0,1,1"]), 2, "x1 must be ≥ x0");
    assert_fails(&run(&["--box", "0,0,1e30,1"]), 1, "outside the slice 2:1 (3 columns × 4 rows)");
    assert_fails(&run(&["--box", "-1,0,1,1"]), 1, "outside");
    assert_fails(&run(&["--box", "0,0,3,5"]), 1, "outside");
    assert_fails(&run(&["--box", "0,0,4,3", "--slice", "0:1"]), 1, "outside the slice 0:1 (2 columns × 3 rows)");
    // A negative window is a value, not an option.
    assert_fails(&run(&["--window", "-160,240", "--box", "0,0,1e30,1"]), 1, "outside");
    assert!(!out.exists());
}
