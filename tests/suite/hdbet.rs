//! HD-BET (committed int8-weight ONNX of its five folds, `patches3d` with mirroring and folds) in
//! its fast mode on the real scans, against the masks HD-BET's own PyTorch code gives
//! (models/hdbet_reference.py, fast mode: fold 0, no mirroring).

use crate::common;

use medseg::metrics::dice;
use medseg::models::catalog::Catalog;
use medseg::models::manifest::RunMode;
use medseg::models::Model;
use medseg::volume::{read_nifti, ReadLimits, Volume};
use medseg::{LabelMap, Segmenter};
use pollster::block_on;

fn hdbet(mode: RunMode) -> Segmenter {
    let catalog = Catalog::from_json(include_str!("../../models/catalog.json")).unwrap();
    let manifest = catalog.get("hd-bet").unwrap().for_mode(mode);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/hd-bet");
    let model = Model::load(manifest, &mut |p| std::fs::read(dir.join(p)).map_err(|e| e.to_string())).unwrap();
    Segmenter::new(model).unwrap()
}

fn read(bytes: &[u8]) -> Volume {
    read_nifti(bytes, ReadLimits::default()).unwrap()
}

/// medseg's mask of ../shared's `scan` in `mode` against HD-BET's own; returns (Dice, medseg's
/// mL, HD-BET's mL).
fn compare(scan: &str, reference: &[u8], mode: RunMode) -> Option<(f64, f64, f64)> {
    let scan = read(&common::read_shared(scan)?);
    let reference = LabelMap::from_volume(&read(reference), 0).unwrap();
    let segmenter = hdbet(mode);
    let mask = block_on(segmenter.segment(&scan, &mut |_, _| {})).unwrap();
    assert_eq!(mask.shape, reference.shape);
    let ml = |values: &[u16]| scan.volume_ml(values.iter().filter(|&&v| v == 1).count() as u64);
    Some((dice(&mask.values, &reference.values, 1), ml(&mask.values), ml(&reference.values)))
}

#[test]
fn hdbet_fast_on_t1_crop_matches_hdbets_own_fast_mask() {
    let reference = include_bytes!("../reference/hdbet_t1_crop_fast.nii.gz");
    let Some((d, got, own)) = compare("data/brain/t1_crop.nii.gz", reference, RunMode::Fast) else { return };
    println!("HD-BET fast, t1_crop: Dice {d:.4}, {got:.1} mL (HD-BET's own: {own:.1} mL)");
    // Measured: Dice 0.9936, 1507.5 mL against 1523.2 mL (cubic vs trilinear resampling to
    // 1.5 mm, 128³ patches vs HD-BET's whole 176³ volume, int8 weights).
    assert!((own - 1523.2).abs() < 0.1, "the reference is HD-BET's own 1523.2 mL mask");
    assert!(d >= 0.99, "Dice {d:.4}");
    assert!((got - own).abs() < 30.0, "{got:.1} mL");
}

/// The FLAIR in ../shared is already skull-stripped; HD-BET's fold 0 finds only a small part of
/// it (52 mL): medseg must find the same part, not the whole brain.
#[test]
fn hdbet_fast_on_flair_matches_hdbets_own_fast_mask() {
    let reference = include_bytes!("../reference/hdbet_FLAIR_fast.nii.gz");
    let Some((d, got, own)) = compare("data/brain/FLAIR.nii.gz", reference, RunMode::Fast) else { return };
    println!("HD-BET fast, FLAIR: Dice {d:.4}, {got:.1} mL (HD-BET's own: {own:.1} mL)");
    // Measured: Dice 0.9557, 51.7 mL against 52.0 mL.
    assert!((own - 52.0).abs() < 0.1, "the reference is HD-BET's own 52.0 mL mask");
    assert!(d >= 0.94, "Dice {d:.4}");
    assert!((got - own).abs() < 3.0, "{got:.1} mL");
}

/// Accurate mode: 5 folds × 8 mirrorings of one patch, about 11 minutes on 2 cores, so not in
/// `make test`; `cargo test --release --test suite hdbet_accurate -- --ignored` runs it.
#[test]
#[ignore = "40 network runs: about 11 minutes on 2 cores"]
fn hdbet_accurate_on_flair_matches_hdbets_own_accurate_mask() {
    let reference = include_bytes!("../reference/hdbet_FLAIR_accurate.nii.gz");
    let Some((d, got, own)) = compare("data/brain/FLAIR.nii.gz", reference, RunMode::Accurate) else { return };
    println!("HD-BET accurate, FLAIR: Dice {d:.4}, {got:.2} mL (HD-BET's own: {own:.2} mL)");
    // Measured: Dice 0.9581, 11.99 mL against 12.61 mL.
    assert!((own - 12.61).abs() < 0.01, "the reference is HD-BET's own 12.61 mL mask");
    assert!(d >= 0.94, "Dice {d:.4}");
}

#[test]
fn hdbet_counts_its_network_runs_per_mode() {
    let Some(bytes) = common::read_shared("data/brain/t1_crop.nii.gz") else { return };
    let scan = read(&bytes);
    // 256³ at 1 mm is 171³ at 1.5 mm: 2 patches of 128 per axis.
    assert_eq!(hdbet(RunMode::Fast).network_runs(&scan).unwrap(), 8);
    assert_eq!(hdbet(RunMode::Accurate).network_runs(&scan).unwrap(), 8 * 8 * 5, "8 patches × 8 mirrorings × 5 folds");
}

/// A header may claim any spacing: resampling it to 1.5 mm is refused with the size it would
/// take, before anything is allocated (it aborted in `network_runs` before).
#[test]
fn a_spacing_that_would_make_a_huge_grid_is_a_clear_error() {
    let values = vec![1u16; 8 * 8 * 8];
    for spacing in [1e5f32, 1e30] {
        let geometry = common::synthetic_geometry(spacing);
        let scan =
            read(&medseg::volume::write_label_map(&values, [8, 8, 8], &geometry, medseg::volume::NiftiVersion::Auto));
        let segmenter = hdbet(RunMode::Fast);
        for err in [
            segmenter.network_runs(&scan).unwrap_err(),
            block_on(segmenter.segment(&scan, &mut |_, _| {})).unwrap_err(),
        ] {
            let err = err.to_string();
            assert!(err.contains("resampled to [1.5, 1.5, 1.5] mm this scan would be"), "{spacing}: {err}");
        }
    }
}
