#!/usr/bin/env python3
"""Makes the teaching example's cases (www/examples/cases/) from the sample scan.

The sample is the ICBM 2009a MNI152 T1 template fetched by `scripts/setup.sh sample` (see
www/SAMPLE_NOTICE.md for its licence); everything here is derived from it, at set-up time, and not
committed:

  mni152_t1_2mm.nii.gz     the template averaged over 2×2×2 blocks (2 mm voxels, same world space)
  mni152_intensity.nii.gz  three intensity classes inside the head (1-D k-means on T1 intensity),
  mni152_intensity.json    with names and colours: a lesson in what thresholding does and does not do

Usage: python3 scripts/make_example_cases.py [SAMPLE] [OUT_DIR]   (numpy)
"""
import gzip
import json
import os
import struct
import sys

import numpy as np

SAMPLE = sys.argv[1] if len(sys.argv) > 1 else "www/sample/mni152_t1.nii.gz"
OUT = sys.argv[2] if len(sys.argv) > 2 else "www/examples/cases"


def read(path):
    raw = gzip.open(path).read()
    header = bytearray(raw[:348])
    assert struct.unpack_from("<i", header, 0)[0] == 348 and header[344:347] == b"n+1", f"{path}: not a NIfTI-1 file"
    dims = struct.unpack_from("<8h", header, 40)
    assert struct.unpack_from("<h", header, 70)[0] == 2, "the sample is uint8"
    offset = int(struct.unpack_from("<f", header, 108)[0])
    n = dims[1] * dims[2] * dims[3]
    data = np.frombuffer(raw, dtype=np.uint8, count=n, offset=offset).reshape(dims[3], dims[2], dims[1])  # k, j, i
    return header, data


def write(path, header, data, spacing=None, shift=None):
    """Writes uint8 `data` (k, j, i) with the header's geometry; `spacing` scales the sform columns
    and pixdim, `shift` (voxels of the old grid) moves the origin."""
    h = bytearray(header)
    k, j, i = data.shape
    struct.pack_into("<8h", h, 40, 3, i, j, k, 1, 1, 1, 1)
    struct.pack_into("<hh", h, 70, 2, 8)
    struct.pack_into("<f", h, 108, 352.0)
    struct.pack_into("<ff", h, 112, 1.0, 0.0)  # scl_slope, scl_inter
    if spacing:
        rows = [list(struct.unpack_from("<4f", h, 280 + 16 * r)) for r in range(3)]
        for r in range(3):
            offset = rows[r][3] + sum(rows[r][c] * shift for c in range(3))
            rows[r] = [v * spacing for v in rows[r][:3]] + [offset]
            struct.pack_into("<4f", h, 280 + 16 * r, *rows[r])
        pix = list(struct.unpack_from("<8f", h, 76))
        pix[1:4] = [p * spacing for p in pix[1:4]]
        struct.pack_into("<8f", h, 76, *pix)
        struct.pack_into("<hh", h, 252, 0, struct.unpack_from("<h", h, 254)[0])  # qform off: sform only
    with gzip.GzipFile(path, "wb", compresslevel=9, mtime=0) as f:
        f.write(bytes(h) + b"\0\0\0\0" + np.ascontiguousarray(data, dtype=np.uint8).tobytes())


def kmeans_1d(values, k=3, iterations=50):
    centres = np.percentile(values, np.linspace(15, 85, k))
    for _ in range(iterations):
        labels = np.argmin(np.abs(values[:, None] - centres[None, :]), axis=1)
        centres = np.array([values[labels == c].mean() for c in range(k)])
    return np.sort(centres)


def main():
    header, data = read(SAMPLE)
    os.makedirs(OUT, exist_ok=True)
    # 2 mm: mean over 2×2×2 blocks of the even-sized part; the new voxel 0 is centred on old 0.5.
    k, j, i = (s - s % 2 for s in data.shape)
    blocks = data[:k, :j, :i].astype(np.float32).reshape(k // 2, 2, j // 2, 2, i // 2, 2).mean(axis=(1, 3, 5))
    write(os.path.join(OUT, "mni152_t1_2mm.nii.gz"), header, np.rint(blocks), spacing=2.0, shift=0.5)
    # Intensity classes inside the head (value > 10): the nearest of three k-means centres.
    inside = data > 10
    centres = kmeans_1d(data[inside].astype(np.float32))
    labels = np.zeros(data.shape, np.uint8)
    labels[inside] = 1 + np.argmin(np.abs(data[inside, None].astype(np.float32) - centres[None, :]), axis=1)
    write(os.path.join(OUT, "mni152_intensity.nii.gz"), header, labels)
    names = ["dark (CSF-like)", "intermediate (grey-matter-like)", "bright (white-matter-like)"]
    colours = [[70, 130, 255], [230, 80, 80], [255, 230, 120]]
    sidecar = {"labels": [{"value": v + 1, "name": f"{names[v]}, T1 ≈ {centres[v]:.0f}", "rgb": colours[v]} for v in range(3)]}
    with open(os.path.join(OUT, "mni152_intensity.json"), "w") as f:
        json.dump(sidecar, f, indent=1, ensure_ascii=False)
    print(f"[cases] wrote {OUT}/: mni152_t1_2mm.nii.gz {blocks.shape[::-1]}, mni152_intensity.nii.gz (+ .json)")


if __name__ == "__main__":
    main()
