//! MedSAM (LiteMedSAM) on the real example_ct.nii.gz and its label map: the float export against
//! the reference case, the shipped (compressed) model against the float one, 2D Dice per organ
//! and 3D propagation.

use crate::common;

use medseg::medsam::image::Window;
use medseg::medsam::propagate::{slices_in_flight, SliceEncoder};
use medseg::medsam::{Mask, MedSam};
use medseg::metrics::dice;
use medseg::models::manifest::MedSamManifest;
use medseg::volume::{read_nifti, ReadLimits, Volume};
use medseg::LabelMap;
use pollster::block_on;

const SOFT_TISSUE: Window = Window::Range { lo: -160.0, hi: 240.0 };

fn shipped() -> MedSam {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/litemedsam");
    let manifest = MedSamManifest::from_json(&std::fs::read_to_string(dir.join("medsam.json")).unwrap()).unwrap();
    let read = |p: &str| std::fs::read(dir.join(p)).unwrap();
    MedSam::load(&manifest, &read(&manifest.encoder.path), &read(&manifest.decoder.path)).unwrap()
}

/// A little-endian float32 `.npy` array.
fn npy(relative: &str) -> Option<Vec<f32>> {
    let bytes = common::read_shared(relative)?;
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(header.contains("'<f4'") && header.contains("False"), "{header}");
    Some(bytes[10 + header_len..].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect())
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn ct_and_labels() -> Option<(Volume, LabelMap)> {
    let scan = read_nifti(&common::read_shared("data/ct/example_ct.nii.gz")?, ReadLimits::default()).unwrap();
    let seg = read_nifti(&common::read_shared("data/ct/example_seg_fast_force_split.nii.gz")?, ReadLimits::default())
        .unwrap();
    Some((scan, LabelMap::from_volume(&seg, 0).unwrap()))
}

/// The label's mask on axial slice `z`, laid out as [`Image::slice_of`] (rows = i, columns = j).
fn label_slice(labels: &LabelMap, label: u16, z: usize) -> Vec<u8> {
    let [nx, ny, _] = labels.shape;
    (0..nx)
        .flat_map(|i| (0..ny).map(move |j| (i, j)))
        .map(|(i, j)| u8::from(labels.values[i + nx * (j + ny * z)] == label))
        .collect()
}

/// `[x0, y0, x1, y1]` (columns j, rows i) of a slice mask.
fn bbox(mask: &[u8], cols: usize) -> Option<[f32; 4]> {
    let mask = Mask { rows: mask.len() / cols, cols, values: mask.to_vec(), iou: 0.0 };
    mask.bounding_box().map(|b| b.map(|v| v as f32))
}

#[test]
fn float_export_reproduces_the_reference_case_and_the_shipped_model_follows_it() {
    let (Some(input), Some(reference_embeddings), Some(box_256), Some(reference_logits)) = (
        npy("models/litemedsam-reference/case_liver_input.npy"),
        npy("models/litemedsam-reference/case_liver_embeddings.npy"),
        npy("models/litemedsam-reference/case_liver_box.npy"),
        npy("models/litemedsam-reference/case_liver_lowres_logits.npy"),
    ) else {
        return;
    };
    let float = MedSam::from_bytes(
        &common::read_shared("models/litemedsam-reference/litemedsam_encoder.onnx").unwrap(),
        &common::read_shared("models/litemedsam-reference/litemedsam_decoder.onnx").unwrap(),
    )
    .unwrap();
    let box_256: [f32; 4] = box_256.try_into().unwrap();
    let embeddings = block_on(float.encode_input(input.clone())).unwrap();
    let (logits, _) = block_on(float.decode_raw(&reference_embeddings, box_256)).unwrap();
    let (d_emb, d_logits) = (max_diff(&embeddings, &reference_embeddings), max_diff(&logits, &reference_logits));
    println!("float in tract vs reference: embeddings {d_emb:.2e}, logits {d_logits:.2e}");
    assert!(d_emb <= 1e-3 && d_logits <= 1e-3);

    let shipped = shipped();
    let shipped_embeddings = block_on(shipped.encode_input(input)).unwrap();
    let (shipped_logits, _) = block_on(shipped.decode_raw(&shipped_embeddings, box_256)).unwrap();
    // Compare the masks inside the resized image (256 × 212 of the 256² input).
    let inside = |l: &[f32]| -> Vec<u8> {
        (0..256).flat_map(|r| (0..212).map(move |c| (r, c))).map(|(r, c)| u8::from(l[r * 256 + c] > 0.0)).collect()
    };
    let d = dice(&inside(&shipped_logits), &inside(&reference_logits), 1);
    println!("shipped vs float mask Dice on case_liver: {d:.4}");
    assert!(d >= 0.97, "Dice {d}");
}

#[test]
fn boxes_on_the_largest_slice_of_six_organs_reach_mean_dice_089() {
    let Some((scan, labels)) = ct_and_labels() else { return };
    let medsam = shipped();
    let mut encoder = SliceEncoder::new(2, SOFT_TISSUE);
    let [_, ny, nz] = labels.shape;
    let mut scores = Vec::new();
    for (label, name) in
        [(1, "spleen"), (2, "kidney_right"), (3, "kidney_left"), (5, "liver"), (6, "stomach"), (21, "urinary_bladder")]
    {
        let z = (0..nz).max_by_key(|&z| label_slice(&labels, label, z).iter().filter(|v| **v != 0).count()).unwrap();
        let truth = label_slice(&labels, label, z);
        let mask = block_on(encoder.segment(&medsam, &scan, z, bbox(&truth, ny).unwrap())).unwrap();
        let d = dice(&mask.values, &truth, 1);
        println!("{name} (slice {z}): Dice {d:.4}, IoU estimate {:.3}", mask.iou);
        scores.push(d);
    }
    let mean = scores.iter().sum::<f64>() / scores.len() as f64;
    println!("mean 2D Dice {mean:.4}");
    assert!(mean >= 0.89, "mean Dice {mean}");
}

#[test]
fn propagating_one_box_through_the_volume_segments_liver_spleen_and_kidneys() {
    let Some((scan, labels)) = ct_and_labels() else { return };
    let medsam = shipped();
    let mut encoder = SliceEncoder::new(2, SOFT_TISSUE);
    let [_, ny, nz] = labels.shape;
    for (label, name, bar) in
        [(5, "liver", 0.80), (1, "spleen", 0.80), (2, "kidney_right", 0.0), (3, "kidney_left", 0.0)]
    {
        let slices: Vec<usize> = (0..nz).filter(|&z| label_slice(&labels, label, z).contains(&1)).collect();
        // As LiteMedSAM's 3D prompt: a box on the middle slice and the object's slice range.
        let middle = (slices[0] + slices.last().unwrap()) / 2;
        let prompt = bbox(&label_slice(&labels, label, middle), ny).unwrap();
        let mut calls = 0;
        let range = Some([slices[0], *slices.last().unwrap()]);
        let volume = block_on(encoder.propagate(&medsam, &scan, middle, prompt, range, &mut |_, _| {
            calls += 1;
        }))
        .unwrap();
        let truth: Vec<u8> = labels.values.iter().map(|&v| u8::from(v == label)).collect();
        let d = dice(&volume, &truth, 1);
        println!("{name}: box on slice {middle}, 3D Dice {d:.4} over {calls} slices (label spans {})", slices.len());
        assert!(d >= bar, "{name}: 3D Dice {d}");
    }
}

/// With threads on the CPU a propagation encodes the next slice while the current one decodes
/// (2 slices in flight); the mask must be the one the plain walk gives, slice by slice.
#[test]
fn propagating_with_the_next_slice_in_flight_gives_the_same_mask() {
    let Some((scan, _)) = ct_and_labels() else { return };
    let medsam = shipped();
    let prompt = [27.0, 45.0, 85.0, 104.0]; // the liver on slice 95
    let walk = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            assert_eq!(slices_in_flight(&medsam), threads.min(2));
            let mut encoder = SliceEncoder::new(2, SOFT_TISSUE);
            block_on(encoder.propagate(&medsam, &scan, 95, prompt, Some([92, 98]), &mut |_, _| {})).unwrap()
        })
    };
    let (plain, pipelined) = (walk(1), walk(2));
    let liver = plain.iter().filter(|&&v| v != 0).count();
    assert!(liver > 5000, "the liver is found on 7 slices ({liver} voxels)");
    assert_eq!(plain, pipelined, "the same mask with the next slice in flight");
}
