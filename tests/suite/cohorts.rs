//! `medseg segment` on a cohort: several scans and a folder, `--jobs` × `--threads`, one label map
//! per scan equal to the single-scan run on one thread, `volumes.csv` with a row per scan, and a
//! damaged scan reported and skipped without stopping the batch.

use std::path::Path;

use super::cli::{medseg, stdout, TempDir};

/// model5_gw_ae from the shared mirror, as a manifest `.json` with its files beside it.
fn model5(dir: &Path) -> Option<String> {
    let mirror = crate::common::shared_file("models/brainchop-tfjs/model5_gw_ae/model.json")?;
    let catalog: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/models/catalog.json")).unwrap(),
    )
    .unwrap();
    let manifest = catalog["models"].as_array().unwrap().iter().find(|m| m["name"] == "model5_gw_ae").unwrap();
    for file in manifest["files"].as_array().unwrap() {
        let name = file["path"].as_str().unwrap();
        std::fs::copy(mirror.parent().unwrap().join(name), dir.join(name)).unwrap();
    }
    let path = dir.join("model5.json");
    std::fs::write(&path, manifest.to_string()).unwrap();
    Some(path.to_str().unwrap().to_string())
}

#[test]
fn a_batch_with_two_jobs_matches_single_runs_and_skips_a_damaged_scan() {
    let dir = TempDir::new("cohort");
    let Some(model) = model5(&dir.0) else { return };
    let Some(t1) = crate::common::shared_file("data/brain/t1_crop.nii.gz") else { return };
    let scans = dir.0.join("scans");
    std::fs::create_dir_all(&scans).unwrap();
    std::fs::copy(&t1, scans.join("a.nii.gz")).unwrap();
    std::fs::copy(&t1, scans.join("b.nii.gz")).unwrap();
    std::fs::write(scans.join("broken.nii.gz"), b"\x1f\x8b this is not a gzip stream").unwrap();
    let single = dir.0.join("single.nii.gz");
    let o = medseg(
        &["segment", "--model", &model, t1.to_str().unwrap(), "--threads", "1", "-o", single.to_str().unwrap()],
        None,
    );
    assert!(o.status.success(), "{o:?}");

    let out = dir.0.join("out");
    let o = medseg(
        &[
            "segment",
            "--model",
            &model,
            scans.to_str().unwrap(),
            "--jobs",
            "2",
            "--threads",
            "2",
            "-o",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1), "one scan failed: {o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("broken.nii.gz: failed, skipped"), "{o:?}");
    for name in ["a", "b"] {
        let compare =
            medseg(&["compare", single.to_str().unwrap(), out.join(format!("{name}.nii.gz")).to_str().unwrap()], None);
        assert!(compare.status.success(), "{name}: {}", stdout(&compare));
    }
    let csv = std::fs::read_to_string(out.join("volumes.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(lines[0].starts_with("scan,status,seconds,\"1 White Matter (mL)\",\"2 Grey Matter (mL)\""), "{csv}");
    let row = |name: &str| {
        lines.iter().find(|l| l.contains(name)).unwrap().split(',').map(str::to_string).collect::<Vec<_>>()
    };
    assert_eq!(row("a.nii.gz")[1], "ok");
    assert_eq!(row("a.nii.gz")[3..], row("b.nii.gz")[3..], "the same scan gives the same volumes");
    let white: f64 = row("a.nii.gz")[3].parse().unwrap();
    assert!(white > 100.0, "{csv}");
    assert!(row("broken.nii.gz")[1].contains("failed"), "{csv}");
}
