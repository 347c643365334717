//! deepbet (committed int8-weight ONNX, two-stage pipeline) on the real t1_crop.nii.gz, against
//! the brain mask deepbet 1.0.2's own torch pipeline gives (tests/make_deepbet_reference.py); and,
//! where ../shared is absent, on the public MNI152 template against its own tissue maps.

use crate::common;

use medseg::metrics::dice;
use medseg::models::catalog::Catalog;
use medseg::models::Model;
use medseg::volume::{read_nifti, ReadLimits, Volume};
use medseg::LabelMap;
use medseg::Segmenter;
use pollster::block_on;

fn deepbet() -> Model {
    let catalog = Catalog::from_json(include_str!("../../models/catalog.json")).unwrap();
    let manifest = catalog.get("deepbet").unwrap().clone();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/deepbet");
    Model::load(manifest, &mut |p| std::fs::read(dir.join(p)).map_err(|e| e.to_string())).unwrap()
}

/// deepbet's brain mask of `scan` (0/1), and the pipeline stages it reported.
fn brain_mask(scan: &Volume) -> (LabelMap, Vec<String>) {
    let mut stages = Vec::new();
    let mask = block_on(Segmenter::new(deepbet()).unwrap().segment(scan, &mut |stage, _| {
        if stages.last() != Some(&stage.to_string()) {
            stages.push(stage.to_string());
        }
    }))
    .unwrap();
    (mask, stages)
}

/// Millilitres of the voxels labelled 1 in `values`, on `scan`'s grid.
fn ml(scan: &Volume, values: &[u16]) -> f64 {
    scan.volume_ml(values.iter().filter(|&&v| v == 1).count() as u64)
}

#[test]
fn deepbet_on_t1_crop_matches_deepbets_own_mask() {
    let Some(bytes) = common::read_shared("data/brain/t1_crop.nii.gz") else { return };
    let scan = read_nifti(&bytes, ReadLimits::default()).unwrap();
    let reference = include_bytes!("../reference/deepbet_t1_crop_mask.nii.gz");
    let reference = LabelMap::from_volume(&read_nifti(reference, ReadLimits::default()).unwrap(), 0).unwrap();

    let (mask, stages) = brain_mask(&scan);
    assert_eq!(mask.shape, reference.shape);
    let d = dice(&mask.values, &reference.values, 1);
    let (got, own) = (ml(&scan, &mask.values), ml(&scan, &reference.values));
    println!("deepbet t1_crop: Dice {d:.5}, {got:.2} mL (deepbet's own: {own:.2} mL)");
    assert!(d >= 0.98, "Dice {d}");
    assert!((own - 1542.04).abs() < 0.01, "the reference is deepbet's own 1542.04 mL mask");
    assert!((got - 1542.04).abs() < 5.0);
    assert!(stages.iter().any(|s| s == "locating") && stages.iter().any(|s| s == "running the model"), "{stages:?}");
}

/// The MNI152 template has no skull already, so deepbet's mask should be its non-zero extent, and
/// cover its grey and white matter (probability ≥ 0.5 for the two together). Where ../shared is
/// present, the t1_crop test above checks deepbet instead (CI time).
#[test]
fn deepbet_on_the_mni152_template_masks_its_brain() {
    if common::shared_dir().exists() {
        eprintln!("deepbet is checked on ../shared's t1_crop.nii.gz; the MNI152 run is for clones without it");
        return;
    }
    let (t1, gm, wm) = (common::mni152("t1"), common::mni152("gm"), common::mni152("wm"));
    let (mask, _) = brain_mask(&t1);
    assert_eq!(mask.shape, t1.shape3());
    let extent: Vec<u16> = t1.volume_f32(0).unwrap().iter().map(|&v| u16::from(v > 0.0)).collect();
    let (gm, wm) = (gm.volume_f32(0).unwrap(), wm.volume_f32(0).unwrap());
    let tissue: Vec<u16> = gm.iter().zip(&wm).map(|(g, w)| u16::from(g + w >= 127.5)).collect();
    let (d_extent, d_tissue) = (dice(&mask.values, &extent, 1), dice(&mask.values, &tissue, 1));
    let covered = mask.values.iter().zip(&tissue).filter(|&(&m, &t)| m == 1 && t == 1).count() as f64
        / tissue.iter().filter(|&&t| t == 1).count() as f64;
    let got = ml(&t1, &mask.values);
    println!(
        "deepbet MNI152: {got:.1} mL (template {:.1} mL, grey+white {:.1} mL); Dice with the template {d_extent:.4}, \
         with grey+white {d_tissue:.4}; grey+white covered {covered:.4}",
        ml(&t1, &extent),
        ml(&t1, &tissue)
    );
    // Measured once: 1952.7 mL, Dice 0.9815 with the template, all of grey+white covered.
    assert!(d_extent >= 0.975, "Dice with the template {d_extent:.4}");
    assert!(covered >= 0.995, "grey+white covered {covered:.4}");
    assert!((got - 1952.7).abs() < 10.0, "{got:.1} mL");
}

/// tract's matrix products split their output tiles across threads, and medseg's own parallel
/// steps (the deconvolution scatter, the output softmax) work on fixed blocks: a network's raw
/// output must not depend on the number of threads. The locator network (a LinkNet3d like the
/// main one: strided convolutions, transposed convolutions, instance norms, softmax) on t1_crop
/// resized to its 128³ input, on the calling thread and on a pool of two.
#[test]
fn deepbet_outputs_are_the_same_on_one_thread_and_on_two() {
    use medseg::engine::threads::use_threads;
    use medseg::volume::resample::resize_nearest_exact;

    let Some(bytes) = common::read_shared("data/brain/t1_crop.nii.gz") else { return };
    let scan = read_nifti(&bytes, ReadLimits::default()).unwrap();
    let values = scan.volume_f32(0).unwrap();
    let small = resize_nearest_exact(&values, scan.shape3(), [128, 128, 128]);
    let top = small.iter().copied().fold(f32::MIN, f32::max);
    let input: Vec<f32> = small.iter().map(|v| v / top).collect();
    let model = deepbet();
    let locator = model.locator.as_ref().expect("deepbet has a locator network");
    let shape = [1, 1, 128, 128, 128];

    use_threads(1);
    let (one, one_shape) = block_on(locator.run(input.clone(), &shape)).unwrap();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    use_threads(2);
    let (two, two_shape) = pool.install(|| block_on(locator.run(input, &shape))).unwrap();
    use_threads(1);

    assert_eq!(one_shape, two_shape);
    let largest = one.iter().zip(&two).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    let differing = one.iter().zip(&two).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
    println!("deepbet locator, 1 vs 2 threads: {differing} of {} outputs differ, largest |Δ| {largest:e}", one.len());
    assert!(largest <= 1e-5, "largest |Δ| {largest}");
    assert_eq!(differing, 0, "the outputs are the same bit for bit");
}
