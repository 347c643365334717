"""Writes tests/reference/nibabel.json: what nibabel reads from every .nii.gz under ../shared/data.

Run from the repository root:  python3 tests/make_nibabel_reference.py
The Rust tests compare the project's reader against this file, so CI needs no Python.
"""
import json
import pathlib

import nibabel as nib
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "tests" / "reference" / "nibabel.json"


def values(img):
    """The voxel values as float64, the way medseg converts types nibabel cannot scale."""
    dtype = img.get_data_dtype()
    if dtype.names == ("R", "G", "B"):  # RGB24 -> BT.601 luminance
        raw = np.asanyarray(img.dataobj)
        return 0.299 * raw["R"] + 0.587 * raw["G"] + 0.114 * raw["B"]
    if np.issubdtype(dtype, np.complexfloating):  # complex -> magnitude
        return np.abs(np.asanyarray(img.dataobj)).astype(np.float64)
    return img.get_fdata()


def probe_voxels(shape):
    """A few fixed voxels (corners, centre, off-centre) to compare values at."""
    s = [int(n) for n in shape[:3]]
    return [[0, 0, 0], [s[0] - 1, s[1] - 1, s[2] - 1], [s[0] // 2, s[1] // 2, s[2] // 2],
            [s[0] // 3, (2 * s[1]) // 3, s[2] // 4]]


def main():
    cases = {}
    for path in sorted(DATA.rglob("*.nii.gz")):
        img = nib.load(path)
        data = values(img)
        vol0 = data.reshape(data.shape[:3] + (-1,))[..., 0]
        probes = probe_voxels(img.shape)
        cases[str(path.relative_to(DATA))] = {
            "dims": [int(n) for n in img.shape],
            "datatype": "rgb24" if img.get_data_dtype().names else str(img.get_data_dtype().newbyteorder("=")),
            "affine": img.affine.tolist(),
            "orientation": "".join(nib.aff2axcodes(img.affine)),
            "value_range": [float(np.nanmin(data)), float(np.nanmax(data))],
            "zooms": [float(z) for z in img.header.get_zooms()[:3]],
            "probes": [{"ijk": p, "value": float(vol0[tuple(p)])} for p in probes],
        }
        if "seg" in path.name:  # label maps: voxels per label value, for the label table
            labels, counts = np.unique(vol0.astype(np.int64), return_counts=True)
            cases[str(path.relative_to(DATA))]["label_counts"] = {
                str(int(v)): int(c) for v, c in zip(labels, counts) if v != 0}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"nibabel": nib.__version__, "cases": cases}, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
