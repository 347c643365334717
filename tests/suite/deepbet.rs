//! deepbet (committed int8-weight ONNX, two-stage pipeline) on the real t1_crop.nii.gz, against
//! the brain mask deepbet 1.0.2's own torch pipeline gives (tests/make_deepbet_reference.py).

use crate::common;

use medseg::metrics::dice;
use medseg::models::catalog::Catalog;
use medseg::models::Model;
use medseg::Segmenter;
use medseg::volume::{read_nifti, ReadLimits};
use medseg::LabelMap;
use pollster::block_on;

fn deepbet() -> Model {
    let catalog = Catalog::from_json(include_str!("../../models/catalog.json")).unwrap();
    let manifest = catalog.get("deepbet").unwrap().clone();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/deepbet");
    Model::load(manifest, &mut |p| std::fs::read(dir.join(p)).map_err(|e| e.to_string())).unwrap()
}

#[test]
fn deepbet_on_t1_crop_matches_deepbets_own_mask() {
    let Some(bytes) = common::read_shared("data/brain/t1_crop.nii.gz") else { return };
    let scan = read_nifti(&bytes, ReadLimits::default()).unwrap();
    let reference = include_bytes!("../reference/deepbet_t1_crop_mask.nii.gz");
    let reference = LabelMap::from_volume(&read_nifti(reference, ReadLimits::default()).unwrap(), 0).unwrap();

    let mut stages = Vec::new();
    let mask = block_on(Segmenter::new(deepbet()).unwrap().segment(&scan, &mut |stage, _| {
        if stages.last() != Some(&stage.to_string()) {
            stages.push(stage.to_string());
        }
    }))
    .unwrap();
    assert_eq!(mask.shape, reference.shape);
    let d = dice(&mask.values, &reference.values, 1);
    let ml =
        |values: &[u16]| values.iter().filter(|&&v| v == 1).count() as f64 * scan.geometry.voxel_volume_mm3() / 1e3;
    println!(
        "deepbet t1_crop: Dice {d:.5}, {:.2} mL (deepbet's own: {:.2} mL)",
        ml(&mask.values),
        ml(&reference.values)
    );
    assert!(d >= 0.98, "Dice {d}");
    assert!((ml(&reference.values) - 1542.04).abs() < 0.01, "the reference is deepbet's own 1542.04 mL mask");
    assert!((ml(&mask.values) - 1542.04).abs() < 5.0);
    assert!(stages.iter().any(|s| s == "locating") && stages.iter().any(|s| s == "running the model"), "{stages:?}");
}
