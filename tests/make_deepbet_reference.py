"""Writes tests/reference/deepbet_t1_crop_mask.nii.gz: the brain mask that deepbet 1.0.2's own torch pipeline
(BrainExtraction.run, threshold 0.5, n_dilate 0, default models, CPU) gives for ../shared/data/brain/t1_crop.nii.gz.

It is the reference for medseg's ONNX port of deepbet (models/export_deepbet.py): with the float graphs the port's
mask is identical to this one; the shipped _w8 graphs differ by a few hundred voxels (Dice ~0.9998).
The mask is uint8 (0/1) in the input's voxel order and affine, written as gzip level 9 with a zero timestamp so the
bytes are reproducible. The script also prints the voxel count and the brain volume (1542.04 mL expected).

Run from the repository root (CPU is enough, a few seconds):
    pip install torch==2.15.0 nibabel connected-components-3d fill_voids pandas tqdm
    pip install --no-deps deepbet==1.0.2
    python3 tests/make_deepbet_reference.py
"""
import gzip
import hashlib
import pathlib
import warnings

import nibabel as nib
import numpy as np
import torch
from deepbet import BrainExtraction

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCAN = ROOT.parent / "shared" / "data" / "brain" / "t1_crop.nii.gz"
OUT = ROOT / "tests" / "reference" / "deepbet_t1_crop_mask.nii.gz"


def main():
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load is deprecated
        bet = BrainExtraction(no_gpu=True)
    img = nib.load(str(SCAN))
    _, mask_img, volume_ml = bet.run(img, threshold=0.5, n_dilate=0)

    mask = np.asarray(mask_img.dataobj).astype(np.uint8)
    assert mask.shape == img.shape and set(np.unique(mask)) <= {0, 1}
    out = nib.Nifti1Image(mask, img.affine)
    out.header.set_zooms(img.header.get_zooms()[:3])
    out.header.set_xyzt_units(*img.header.get_xyzt_units())
    out.set_qform(*img.get_qform(coded=True))
    out.set_sform(*img.get_sform(coded=True))
    out.header["descrip"] = b"deepbet 1.0.2 brain mask (torch)"
    OUT.write_bytes(gzip.compress(out.to_bytes(), compresslevel=9, mtime=0))

    data = OUT.read_bytes()
    print(f"{OUT.relative_to(ROOT)}: {len(data):,} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
    print(f"bounding box (RAS voxels): {[(s.start, s.stop) for s in bet.bbox]}")
    print(f"brain: {int(mask.sum())} voxels, {volume_ml:.2f} mL")


if __name__ == "__main__":
    main()
