//! Every network of the catalog on the GPU (lavapipe on machines without one) against the CPU,
//! on real scans: MeshNets on a block of the real norm.nii.gz (whole network, and plane-streamed
//! the way the page runs them), deepbet through its whole pipeline on t1_crop, LiteMedSAM's
//! encoder and decoder on organ boxes of example_ct. Label maps must agree on ≥ 99.9 % of
//! voxels, MedSAM masks reach Dice ≥ 0.995 against the CPU's.

use crate::common;

use medseg::medsam::image::{Image, Window};
use medseg::medsam::MedSam;
use medseg::metrics::dice;
use medseg::models::catalog::Catalog;
use medseg::models::manifest::MedSamManifest;
use medseg::models::manifest::{ModelFormat, Pipeline};
use medseg::models::Model;
use medseg::segment::scaling::Scaling;
use medseg::volume::{read_nifti, ReadLimits, Volume};
use medseg::LabelMap;
use medseg::Segmenter;
use pollster::block_on;

/// Least fraction of voxels on which GPU and CPU label maps agree.
const AGREEMENT: f64 = 0.999;
/// Side of the block of norm.nii.gz the MeshNets run on (lavapipe runs them ~5× slower than
/// tract, so whole 256³ volumes of every MeshNet would take most of an hour).
const BLOCK: usize = 32;

fn read(relative: &str) -> Option<Volume> {
    Some(read_nifti(&common::read_shared(relative)?, ReadLimits::default()).unwrap())
}

fn agreement<T: PartialEq>(a: &[T], b: &[T]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64
}

/// Label per voxel of `[1, C, …]` logits (first maximum).
fn argmax(logits: &[f32], channels: usize) -> Vec<u16> {
    let voxels = logits.len() / channels;
    (0..voxels)
        .map(|v| {
            (0..channels).fold(0, |best, c| if logits[c * voxels + v] > logits[best * voxels + v] { c } else { best })
                as u16
        })
        .collect()
}

/// A catalog model read from the local brainchop mirror (or the repository's models/ folder).
fn catalog_model(name: &str) -> Option<Model> {
    let catalog = Catalog::from_json(include_str!("../../models/catalog.json")).unwrap();
    let manifest = catalog.get(name).unwrap().clone();
    let local = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models").join(name);
    let dir = if local.join(&manifest.files[0].path).exists() {
        local
    } else {
        common::shared_file(&format!("models/brainchop-tfjs/{name}/model.json"))?;
        common::shared_dir().join("models/brainchop-tfjs").join(name)
    };
    Some(Model::load(manifest, &mut |p| std::fs::read(dir.join(p)).map_err(|e| e.to_string())).unwrap())
}

/// The central BLOCK³ of the conformed norm.nii.gz, scaled as `model` wants, in network order.
fn brain_block(model: &Model, norm: &Volume) -> Vec<f32> {
    let values = norm.volume_f32(0).unwrap();
    let scaled = Scaling::fit(&values, &model.manifest.preprocess.intensity).apply(&values);
    let [nx, ny, nz] = norm.shape3();
    let start = [nx / 2 - BLOCK / 2, ny / 2 - BLOCK / 2, nz / 2 - BLOCK / 2];
    let mut block = Vec::with_capacity(BLOCK.pow(3));
    // Network order [D, H, W] with W fastest; a transposing manifest puts x last.
    let transpose = model.manifest.preprocess.transpose;
    for a in 0..BLOCK {
        for b in 0..BLOCK {
            for c in 0..BLOCK {
                let [x, y, z] = if transpose { [a, b, c] } else { [c, b, a] };
                block.push(scaled[(start[0] + x) + nx * ((start[1] + y) + ny * (start[2] + z))]);
            }
        }
    }
    block
}

#[test]
fn meshnets_label_a_real_brain_block_as_the_cpu_does() {
    let Some(norm) = read("data/brain/norm.nii.gz") else { return };
    let Some(accelerator) = common::accelerator() else { return };
    let catalog = Catalog::from_json(include_str!("../../models/catalog.json")).unwrap();
    let names: Vec<String> = catalog
        .models
        .iter()
        .filter(|m| m.format == ModelFormat::TfjsLayers && matches!(m.pipeline, Pipeline::Volume))
        .map(|m| m.name.clone())
        .collect();
    assert!(names.len() >= 8, "the catalog lists {} MeshNets", names.len());
    for name in names {
        let Some(mut model) = catalog_model(&name) else { continue };
        let block = brain_block(&model, &norm);
        let shape = [1, 1, BLOCK, BLOCK, BLOCK];
        let (cpu, cpu_shape) = block_on(model.network.run(block.clone(), &shape)).unwrap();
        model.use_accelerator(Some(accelerator.clone()));
        let (gpu, gpu_shape) = block_on(model.network.run(block.clone(), &shape)).unwrap();
        assert_eq!(cpu_shape, gpu_shape);
        let channels = cpu_shape[1];
        let whole = agreement(&argmax(&cpu, channels), &argmax(&gpu, channels));
        let streamed = model.streamed.as_ref().map(|streamed| {
            let mut labels = Vec::new();
            block_on(streamed.run(
                &block,
                shape,
                &mut |plane, c| {
                    labels.extend(argmax(plane, c));
                    Ok(())
                },
                &mut |_| {},
            ))
            .unwrap();
            agreement(&argmax(&cpu, channels), &labels)
        });
        eprintln!(
            "{name}: GPU labels agree with the CPU on {:.5} of voxels (streamed on the GPU: {streamed:.5?})",
            whole
        );
        assert!(whole >= AGREEMENT, "{name}: agreement {whole}");
        assert!(streamed.is_none_or(|s| s >= AGREEMENT), "{name}: streamed agreement {streamed:?}");
        assert!(accelerator.usable(), "{name}: the GPU failed: {:?}", accelerator.notes());
    }
    assert!(accelerator.notes().is_empty(), "nodes ran on the CPU or the GPU failed: {:?}", accelerator.notes());
}

#[test]
fn deepbet_extracts_the_same_brain_on_the_gpu() {
    let Some(scan) = read("data/brain/t1_crop.nii.gz") else { return };
    let Some(accelerator) = common::accelerator() else { return };
    let mut model = Segmenter::new(catalog_model("deepbet").unwrap()).unwrap();
    let cpu = block_on(model.segment(&scan, &mut |_, _| {})).unwrap();
    model.use_accelerator(Some(accelerator.clone()));
    let gpu = block_on(model.segment(&scan, &mut |_, _| {})).unwrap();
    let agree = agreement(&cpu.values, &gpu.values);
    let ml = |labels: &LabelMap| scan.volume_ml(labels.values.iter().filter(|v| **v == 1).count() as u64);
    eprintln!("deepbet: GPU mask agrees with the CPU on {agree:.7} of voxels ({:.2} vs {:.2} mL)", ml(&gpu), ml(&cpu));
    assert!(agree >= AGREEMENT, "agreement {agree}");
    assert!(accelerator.notes().is_empty(), "nodes ran on the CPU or the GPU failed: {:?}", accelerator.notes());
}

fn litemedsam() -> MedSam {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/litemedsam");
    let manifest = MedSamManifest::from_json(&std::fs::read_to_string(dir.join("medsam.json")).unwrap()).unwrap();
    let read = |p: &str| std::fs::read(dir.join(p)).unwrap();
    MedSam::load(&manifest, &read(&manifest.encoder.path), &read(&manifest.decoder.path)).unwrap()
}

#[test]
fn medsam_masks_on_the_gpu_match_the_cpu() {
    let (Some(scan), Some(seg)) =
        (read("data/ct/example_ct.nii.gz"), read("data/ct/example_seg_fast_force_split.nii.gz"))
    else {
        return;
    };
    let Some(accelerator) = common::accelerator() else { return };
    let labels = LabelMap::from_volume(&seg, 0).unwrap();
    let [nx, ny, nz] = labels.shape;
    let organs = [(1u16, "spleen"), (2, "kidney_right"), (3, "kidney_left"), (5, "liver"), (6, "stomach")];
    // The axial slice showing the most of these organs (area breaks ties).
    let area =
        |label: u16, z: usize| labels.values[nx * ny * z..nx * ny * (z + 1)].iter().filter(|v| **v == label).count();
    let z = (0..nz).max_by_key(|&z| (organs.iter().filter(|(l, _)| area(*l, z) >= 50).count(), area(5, z))).unwrap();
    let image = Image::slice_of(&scan, 2, z).unwrap().to_unit(Window::Range { lo: -160.0, hi: 240.0 });
    let mut medsam = litemedsam();
    let cpu_embedding = block_on(medsam.encode(std::slice::from_ref(&image))).unwrap();
    medsam.use_accelerator(Some(accelerator.clone()));
    let gpu_embedding = block_on(medsam.encode(std::slice::from_ref(&image))).unwrap();
    let mut checked = 0;
    for (label, name) in organs {
        if area(label, z) < 50 {
            continue;
        }
        // The organ's box on this slice: columns j, rows i (see Image::slice_of).
        let (mut lo, mut hi) = ([usize::MAX; 2], [0; 2]);
        for j in 0..ny {
            for i in 0..nx {
                if labels.values[i + nx * (j + ny * z)] == label {
                    (lo, hi) = ([lo[0].min(j), lo[1].min(i)], [hi[0].max(j), hi[1].max(i)]);
                }
            }
        }
        let prompt = [lo[0] as f32, lo[1] as f32, hi[0] as f32, hi[1] as f32];
        medsam.use_accelerator(None);
        let cpu = block_on(medsam.decode(&cpu_embedding, prompt)).unwrap();
        medsam.use_accelerator(Some(accelerator.clone()));
        let gpu = block_on(medsam.decode(&gpu_embedding, prompt)).unwrap();
        let d = dice(&gpu.values, &cpu.values, 1);
        eprintln!("{name} on slice {z}: GPU vs CPU mask Dice {d:.5}");
        assert!(d >= 0.995, "{name}: Dice {d}");
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} organs on slice {z}");
    assert!(accelerator.notes().is_empty(), "nodes ran on the CPU or the GPU failed: {:?}", accelerator.notes());
}

#[test]
fn a_lost_device_sends_the_run_back_to_the_cpu_with_a_note() {
    let Some(norm) = read("data/brain/norm.nii.gz") else { return };
    let Some(accelerator) = common::accelerator() else { return };
    let Some(mut model) = catalog_model("model5_gw_ae") else { return };
    let block = brain_block(&model, &norm);
    let shape = [1, 1, BLOCK, BLOCK, BLOCK];
    let (cpu, _) = block_on(model.network.run(block.clone(), &shape)).unwrap();
    model.use_accelerator(Some(accelerator.clone()));
    accelerator.gpu.destroy();
    let (after, _) = block_on(model.network.run(block, &shape)).unwrap();
    assert_eq!(after, cpu, "the run after the loss must be the CPU's");
    assert!(!accelerator.usable());
    let notes = accelerator.notes();
    eprintln!("notes: {notes:?}");
    assert!(notes.iter().any(|n| n.contains("finished on the CPU")), "{notes:?}");
}

#[test]
fn auto_leaves_a_software_adapter_alone_and_takes_a_hardware_one() {
    let Some(accelerator) = common::accelerator() else { return };
    let (auto, why) = block_on(medseg::engine::gpu::Accelerator::choose(medseg::engine::gpu::Backend::Auto)).unwrap();
    eprintln!("auto: {why}");
    if accelerator.gpu.software {
        assert!(auto.is_none(), "Auto took the software adapter {}", accelerator.gpu.description);
        assert!(why.starts_with("CPU (") && why.contains("software"), "{why}");
    } else {
        assert!(auto.is_some(), "Auto left the hardware adapter {}: {why}", accelerator.gpu.description);
    }
}
