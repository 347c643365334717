//! brainchop's MeshNets through the project's own TF.js import and volume pipeline, on the real
//! norm.nii.gz, scored against FreeSurfer's aparc.a2009s+aseg mapped to brainchop's classes.

use crate::common;

use medseg::metrics::dice;
use medseg::models::catalog::Catalog;
use medseg::models::manifest::Manifest;
use medseg::models::Model;
use medseg::volume::{read_nifti, ReadLimits, Volume};
use medseg::LabelMap;
use medseg::Segmenter;
use pollster::block_on;

fn catalog() -> Catalog {
    Catalog::from_json(include_str!("../../models/catalog.json")).unwrap()
}

/// A catalog model, its files read from the local brainchop mirror in ../shared.
fn mirror_model(name: &str) -> Option<Model> {
    common::shared_file(&format!("models/brainchop-tfjs/{name}/model.json"))?;
    let manifest = catalog().get(name).unwrap().clone();
    let dir = common::shared_dir().join("models/brainchop-tfjs").join(name);
    Some(Model::load(manifest, &mut |p| std::fs::read(dir.join(p)).map_err(|e| e.to_string())).unwrap())
}

fn read(relative: &str) -> Option<Volume> {
    Some(read_nifti(&common::read_shared(relative)?, ReadLimits::default()).unwrap())
}

/// FreeSurfer labels → brainchop's 18 classes (../shared/README.md).
fn brainchop18(fs: u16) -> u16 {
    match fs {
        2 | 41 => 1,
        3 | 42 | 1000..=2999 | 11100..=12999 => 2,
        4 | 43 => 3,
        5 | 44 => 4,
        7 | 46 => 5,
        8 | 47 => 6,
        9 | 10 | 48 | 49 => 7,
        11 | 50 => 8,
        12 | 51 => 9,
        13 | 52 => 10,
        14 => 11,
        15 => 12,
        16 => 13,
        17 | 53 => 14,
        18 | 54 => 15,
        26 | 58 => 16,
        28 | 60 => 17,
        _ => 0,
    }
}

fn truth(map: impl Fn(u16) -> u16) -> Option<Vec<u16>> {
    let aseg = read("data/brain/aparc.a2009s+aseg.nii.gz")?;
    Some(LabelMap::from_volume(&aseg, 0).unwrap().values.into_iter().map(map).collect())
}

fn run(model: Model, scan: &Volume) -> LabelMap {
    let mut stages = Vec::new();
    let segmenter = Segmenter::new(model).unwrap();
    let labels = block_on(segmenter.segment(scan, &mut |stage, _| {
        if stages.last().map(String::as_str) != Some(stage) {
            stages.push(stage.to_string());
        }
    }))
    .unwrap();
    assert_eq!(stages.first().map(String::as_str), Some("preparing the scan"));
    assert!(stages.iter().any(|s| s == "running the model"), "{stages:?}");
    labels
}

#[test]
fn model30chan18cls_on_norm_reaches_mean_dice_078() {
    let (Some(model), Some(scan), Some(truth)) =
        (mirror_model("model30chan18cls"), read("data/brain/norm.nii.gz"), truth(brainchop18))
    else {
        return;
    };
    let labels = run(model, &scan);
    assert_eq!(labels.shape, scan.shape3());
    assert_eq!(labels.geometry, scan.geometry.header, "the label map carries the scan's geometry");
    let scores: Vec<f64> = (1..=17).map(|l| dice(&labels.values, &truth, l)).collect();
    let mean = scores.iter().sum::<f64>() / scores.len() as f64;
    eprintln!("model30chan18cls Dice per class {scores:.3?}, mean {mean:.4}");
    assert!(mean >= 0.78, "mean Dice {mean:.4} over 17 structures");
}

#[test]
fn model20chan3cls_on_norm_separates_white_and_grey_matter() {
    let (Some(model), Some(scan), Some(truth)) = (
        mirror_model("model20chan3cls"),
        read("data/brain/norm.nii.gz"),
        truth(|v| match brainchop18(v) {
            1 => 1,
            2 => 2,
            _ => 0,
        }),
    ) else {
        return;
    };
    let labels = run(model, &scan);
    let (wm, gm) = (dice(&labels.values, &truth, 1), dice(&labels.values, &truth, 2));
    eprintln!("model20chan3cls Dice WM {wm:.4}, GM {gm:.4}");
    assert!(wm >= 0.81, "white matter Dice {wm:.4}");
    assert!(gm >= 0.69, "grey matter Dice {gm:.4}");
}

/// The three-class MeshNet on the public MNI152 template, against its own tissue maps: each voxel
/// labelled with the likelier of white (1) and grey matter (2) where that probability is ≥ 0.5.
#[test]
fn model5_gw_ae_on_the_mni152_template_finds_its_grey_and_white_matter() {
    let Some(model) = mirror_model("model5_gw_ae") else { return };
    let t1 = common::mni152("t1");
    let (gm, wm) = (common::mni152("gm").volume_f32(0).unwrap(), common::mni152("wm").volume_f32(0).unwrap());
    let truth: Vec<u16> = gm
        .iter()
        .zip(&wm)
        .map(|(&g, &w)| {
            if w >= 127.5 && w >= g {
                1
            } else if g >= 127.5 {
                2
            } else {
                0
            }
        })
        .collect();
    let labels = run(model, &t1);
    let (d_wm, d_gm) = (dice(&labels.values, &truth, 1), dice(&labels.values, &truth, 2));
    eprintln!("model5_gw_ae on MNI152: Dice WM {d_wm:.4}, GM {d_gm:.4}");
    // Measured once: WM 0.7948, GM 0.7895.
    assert!(d_wm >= 0.78, "white matter Dice {d_wm:.4}");
    assert!(d_gm >= 0.78, "grey matter Dice {d_gm:.4}");
}

#[test]
fn a_manifest_asking_for_empty_patches_is_refused_when_loaded() {
    let Some(mut model) = mirror_model("model5_gw_ae") else { return };
    model.manifest.pipeline =
        medseg::models::manifest::Pipeline::Patches3d { patch: [0, 0, 0], overlap: 0.5, mirror: vec![], folds: vec![] };
    let err = Segmenter::new(model).err().unwrap().to_string();
    assert!(err.starts_with("not a usable model") && err.contains("pipeline.patch"), "{err}");
}

#[test]
fn damaged_model_files_are_refused_by_their_size_and_sha256() {
    let manifest = catalog().get("model5_gw_ae").unwrap().clone();
    let sizes: std::collections::HashMap<String, u64> =
        manifest.files.iter().map(|f| (f.path.clone(), f.bytes)).collect();
    let err = Model::load(manifest.clone(), &mut |_| Ok(b"{}".to_vec())).err().unwrap().to_string();
    assert!(err.contains("the file is 2 bytes, the manifest declares"), "{err}");
    let err = Model::load(manifest, &mut |p| Ok(vec![0; sizes[p] as usize])).err().unwrap().to_string();
    assert!(err.contains("SHA-256"), "{err}");
}

#[test]
fn a_model_whose_input_shape_does_not_fit_the_scan_is_a_clear_error() {
    use medseg::engine::onnx_graph::{float_value, model};
    use tract_onnx::pb::{GraphProto, NodeProto};
    // An ONNX identity whose input is fixed to [1, 1, 8, 8, 8].
    let fixed = [1, 1, 8, 8, 8];
    let graph = GraphProto {
        node: vec![NodeProto {
            op_type: "Identity".into(),
            input: vec!["input".into()],
            output: vec!["logits".into()],
            ..Default::default()
        }],
        input: vec![float_value("input", Some(&fixed))],
        output: vec![float_value("logits", Some(&fixed))],
        ..Default::default()
    };
    let proto = model(graph, "test");
    let network = medseg::engine::network::Network::from_proto(&proto).unwrap();
    let mut manifest: Manifest = catalog().get("model5_gw_ae").unwrap().clone();
    manifest.preprocess.conform = false;
    manifest.preprocess.crop = None;
    let model = Model { manifest, network, streamed: None, locator: None, other_folds: Vec::new() };
    let scan = read_nifti(&common::read_public("nibabel/tests/data/standard.nii.gz"), ReadLimits::default()).unwrap();
    let segmenter = Segmenter::new(model).unwrap();
    let Err(err) = block_on(segmenter.segment(&scan, &mut |_, _| {})) else { panic!("4×5×7 must not fit 8×8×8") };
    let err = err.to_string();
    assert!(
        err.contains("does not fit") && err.contains("[1, 1, 8, 8, 8]") && err.contains("[1, 1, 4, 5, 7]"),
        "{err}"
    );
}

#[test]
fn streaming_a_meshnet_plane_by_plane_gives_the_one_shot_label_map() {
    let (Some(streamed), Some(scan)) = (mirror_model("model5_gw_ae"), read("data/brain/norm.nii.gz")) else { return };
    assert!(streamed.streamed.is_some(), "a MeshNet is a chain of same-padded convolutions");
    let dir = common::shared_dir().join("models/brainchop-tfjs/model5_gw_ae");
    let json = std::fs::read_to_string(dir.join("model.json")).unwrap();
    let shards: Vec<Vec<u8>> =
        medseg::models::tfjs::shard_paths(&json).unwrap().iter().map(|p| std::fs::read(dir.join(p)).unwrap()).collect();
    let one_shot =
        medseg::engine::network::Network::from_proto(&medseg::models::tfjs::to_onnx(&json, &shards).unwrap()).unwrap();
    let one_shot = Model {
        manifest: streamed.manifest.clone(),
        network: one_shot,
        streamed: None,
        locator: None,
        other_folds: Vec::new(),
    };
    let (a, b) = (run(streamed, &scan), run(one_shot, &scan));
    let differing = a.values.iter().zip(&b.values).filter(|(x, y)| x != y).count();
    eprintln!("streamed vs one-shot model5_gw_ae on norm: {differing} of {} voxels differ", a.values.len());
    assert_eq!(differing, 0);
}
