"""Writes what nibabel reads from real scans, for the Rust tests to compare the project's reader with:
  tests/reference/nibabel.json         every .nii.gz under ../shared/data (when ../shared is there)
  tests/reference/nibabel_public.json  every NIfTI-1 and NIfTI-2 file pinned in tests/data/public.sha256
                                       (fetched by scripts/setup.sh testdata); CIFTI-2 ones (grayordinate
                                       matrices, not volumes) are only listed, as files the reader refuses

Run from the repository root:  python3 tests/make_nibabel_reference.py
The Rust tests compare the project's reader against these files, so CI needs no Python.
"""
import json
import pathlib

import nibabel as nib
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
PUBLIC = ROOT / "tests" / "data" / "public"
PUBLIC_PINS = ROOT / "tests" / "data" / "public.sha256"
REFERENCE = ROOT / "tests" / "reference"


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


def describe(img, label_counts):
    """Dims, datatype, affine, orientation, value range, voxel sum, zooms and probe values of one image;
    with label_counts, also the voxels per non-zero label value (for label maps)."""
    data = values(img)
    vol0 = data.reshape(data.shape[:3] + (-1,))[..., 0]
    case = {
        "dims": [int(n) for n in img.shape],
        "datatype": "rgb24" if img.get_data_dtype().names else str(img.get_data_dtype().newbyteorder("=")),
        "affine": img.affine.tolist(),
        "orientation": "".join(nib.aff2axcodes(img.affine)),
        "value_range": [float(np.nanmin(data)), float(np.nanmax(data))],
        "sum": float(np.nansum(data)),  # every volume's voxels, NaN left out: a checksum
        "zooms": [float(z) for z in img.header.get_zooms()[:3]],
        # NaN voxels (JSON has no NaN) are not probed.
        "probes": [{"ijk": p, "value": float(vol0[tuple(p)])} for p in probe_voxels(img.shape)
                   if not np.isnan(vol0[tuple(p)])],
    }
    if label_counts:
        labels, counts = np.unique(vol0.astype(np.int64), return_counts=True)
        case["label_counts"] = {str(int(v)): int(c) for v, c in zip(labels, counts) if v != 0}
    return case


def write(name, reference):
    out = REFERENCE / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"nibabel": nib.__version__, **reference}, indent=1) + "\n")
    print(f"wrote {len(reference['cases'])} cases to {out}")


def shared_reference():
    """Every .nii.gz under ../shared/data; label maps ("seg" in the name) with their label counts."""
    return {"cases": {str(path.relative_to(SHARED)): describe(nib.load(path), "seg" in path.name)
                      for path in sorted(SHARED.rglob("*.nii.gz"))}}


def public_reference():
    """Every pinned .nii/.nii.gz: NIfTI-1 and NIfTI-2 volumes described, CIFTI-2 files listed."""
    cases, cifti = {}, []
    for line in PUBLIC_PINS.read_text().splitlines():
        name = line.split("  ", 1)[1]
        if not name.endswith((".nii", ".nii.gz")):
            continue
        img = nib.load(PUBLIC / name)
        if isinstance(img, nib.Cifti2Image):
            cifti.append(name)
        else:
            cases[name] = describe(img, False)
    return {"cases": cases, "cifti": cifti}


def main():
    if SHARED.is_dir():
        write("nibabel.json", shared_reference())
    else:
        print(f"{SHARED} is absent: tests/reference/nibabel.json left as it is")
    write("nibabel_public.json", public_reference())


if __name__ == "__main__":
    main()
