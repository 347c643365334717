//! Label maps written by medseg read back with identical voxels and geometry.

use crate::common;

use medseg::labels::{Label, LabelMap, LabelTable};
use medseg::volume::{read_nifti, ReadLimits, VoxelData};

/// A scan under ../shared, written back as a label map (see [`roundtrip`]); skipped when absent.
fn roundtrip_shared(relative: &str, expect_wide: bool) {
    let Some(bytes) = common::read_shared(relative) else { return };
    roundtrip(relative, &bytes, expect_wide);
}

/// The integer scan `bytes` (named `relative`) as a label map, written and read back: the same
/// voxels (uint16 when `expect_wide`, else uint8), affine, codes, pixdim and units.
fn roundtrip(relative: &str, bytes: &[u8], expect_wide: bool) {
    let source = read_nifti(bytes, ReadLimits::default()).unwrap();
    let map = LabelMap::from_volume(&source, 0).unwrap();
    let written = map.to_nii_gz();
    let back = read_nifti(&written, ReadLimits::default()).unwrap();

    assert_eq!(back.dims, source.dims[..3].to_vec(), "{relative}: dims");
    let values: Vec<u16> = match &back.voxels {
        VoxelData::U8(v) if !expect_wide => v.iter().map(|&x| u16::from(x)).collect(),
        VoxelData::U16(v) if expect_wide => v.clone(),
        other => panic!("{relative}: unexpected datatype {:?}", std::mem::discriminant(other)),
    };
    assert_eq!(values, map.values, "{relative}: voxels");
    let original: Vec<f32> = source.volume_f32(0).unwrap();
    assert!(values.iter().zip(&original).all(|(&a, &b)| f32::from(a) == b), "{relative}: label values changed");
    assert_eq!(back.geometry.affine, source.geometry.affine, "{relative}: affine");
    assert_eq!(back.geometry.source, source.geometry.source, "{relative}: affine source");
    let (h, s) = (&back.geometry.header, &source.geometry.header);
    assert_eq!((h.qform_code, h.sform_code), (s.qform_code, s.sform_code), "{relative}: codes");
    assert_eq!((h.quatern, h.qoffset, h.srow), (s.quatern, s.qoffset, s.srow), "{relative}: q/s-form");
    assert_eq!(h.pixdim[..4], s.pixdim[..4], "{relative}: pixdim");
    assert_eq!(back.geometry.unit, source.geometry.unit, "{relative}: unit");
    assert_eq!(back.geometry.orientation(), source.geometry.orientation());
    // Written again, the bytes are the same: nothing drifts.
    assert_eq!(LabelMap::from_volume(&back, 0).unwrap().to_nii_gz(), written);
}

#[test]
fn uint8_labels_roundtrip() {
    roundtrip_shared("data/ct/example_seg_fast_force_split.nii.gz", false);
    roundtrip_shared("data/mr/example_seg_mr.nii.gz", false);
}

#[test]
fn public_uint8_scans_roundtrip_as_labels() {
    // nibabel's standard.nii.gz (sform only, 1×3×2 mm) and nilearn's MNI152 grey-matter map.
    for name in
        ["nibabel/tests/data/standard.nii.gz", "nilearn/datasets/data/mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz"]
    {
        roundtrip(name, &common::read_public(name), false);
    }
}

#[test]
fn labels_above_255_are_written_as_uint16() {
    roundtrip_shared("data/brain/aparc.a2009s+aseg.nii.gz", true);
}

#[test]
fn counts_and_volumes_in_ml() {
    let Some(bytes) = common::read_shared("data/ct/example_seg_fast_force_split.nii.gz") else { return };
    let seg = read_nifti(&bytes, ReadLimits::default()).unwrap();
    let map = LabelMap::from_volume(&seg, 0).unwrap();
    let counts = map.counts();
    let total: u64 = counts.iter().map(|c| c.1).sum();
    let nonzero = map.values.iter().filter(|&&v| v != 0).count() as u64;
    assert_eq!(total, nonzero);
    let reference: serde_json::Value = serde_json::from_str(include_str!("../reference/nibabel.json")).unwrap();
    let expected = reference["cases"]["ct/example_seg_fast_force_split.nii.gz"]["label_counts"].as_object().unwrap();
    assert_eq!(counts.len(), expected.len(), "number of labels present");
    for (value, count) in &counts {
        assert_eq!(Some(*count), expected[&value.to_string()].as_u64(), "voxels of label {value} (nibabel)");
    }
    let liver = counts.iter().find(|c| c.0 == 5).expect("liver (5) present").1;
    assert!((seg.volume_ml(liver) - liver as f64 * 27.0 / 1000.0).abs() < 1e-6);
}

#[test]
fn sidecar_json_roundtrip() {
    let table = LabelTable {
        labels: vec![
            Label { value: 1, name: "spleen".into(), rgb: [157, 108, 162] },
            Label { value: 5, name: "liver <b>".into(), rgb: [221, 130, 101] },
        ],
    };
    let json = table.to_json();
    assert!(json.contains("\"value\": 5"));
    assert_eq!(LabelTable::from_json(&json).unwrap(), table);
    assert!(LabelTable::from_json("{\"labels\":[{\"value\":1}]}").is_err());
}
