#!/usr/bin/env python3
"""A large int16 CT for memory measurements (tests/e2e/bench_memory.mjs): example_ct resampled
(trilinear) onto a 512×512×400 grid covering the same field of view, with the affine scaled to
match, written as .nii.gz. Never commit the output: it is made on demand.

Usage: python3 scripts/make_large_ct.py [SOURCE] [OUT] [--dims 512 512 400]
  defaults: ../shared/data/ct/example_ct.nii.gz  /tmp/medseg_large_ct.nii.gz
Needs numpy and nibabel (pip install numpy nibabel).
"""
import argparse
from pathlib import Path

import nibabel as nib
import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def axis_weights(n_in, n_out):
    """Sample positions of `n_out` voxels spanning the same extent as `n_in` (voxel centres aligned
    at both ends' outer edges): lower index, upper index and the upper weight."""
    pos = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    pos = np.clip(pos, 0, n_in - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, (pos - lo).astype(np.float32)


def resample(data, dims):
    """Trilinear resampling of a 3D array to `dims`, one axis at a time (float32)."""
    out = data.astype(np.float32)
    for axis, n_out in enumerate(dims):
        lo, hi, w = axis_weights(out.shape[axis], n_out)
        shape = [1, 1, 1]
        shape[axis] = n_out
        w = w.reshape(shape)
        out = np.take(out, lo, axis=axis) * (1 - w) + np.take(out, hi, axis=axis) * w
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('source', nargs='?', default=str(ROOT.parent / 'shared/data/ct/example_ct.nii.gz'))
    parser.add_argument('out', nargs='?', default='/tmp/medseg_large_ct.nii.gz')
    parser.add_argument('--dims', nargs=3, type=int, default=[512, 512, 400])
    args = parser.parse_args()

    img = nib.load(args.source)
    data = np.asanyarray(img.dataobj)
    if data.ndim != 3:
        raise SystemExit(f'{args.source}: expected a 3D scan, got shape {data.shape}')
    values = np.rint(resample(data, args.dims))
    values = np.clip(values, -32768, 32767).astype(np.int16)
    # Same field of view: each voxel axis scaled by n_in / n_out, the first voxel's corner kept.
    scale = np.array(data.shape, dtype=np.float64) / np.array(args.dims, dtype=np.float64)
    affine = img.affine.copy()
    affine[:3, :3] = img.affine[:3, :3] * scale
    affine[:3, 3] = img.affine[:3, :3] @ (0.5 * scale - 0.5) + img.affine[:3, 3]
    out = nib.Nifti1Image(values, affine)
    out.header.set_xyzt_units(*img.header.get_xyzt_units())
    out.set_qform(affine, code=int(img.header['qform_code']) or 1)
    out.set_sform(affine, code=int(img.header['sform_code']) or 1)
    nib.save(out, args.out)
    print(f'{args.out}: {values.shape} int16, spacing {np.round(out.header.get_zooms(), 3)} mm, '
          f'values {values.min()}…{values.max()}, {Path(args.out).stat().st_size / 2**20:.1f} MiB')


if __name__ == '__main__':
    main()
