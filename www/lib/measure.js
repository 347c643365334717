// Measurements in world units: the distance between two voxels through the scan's affine (any
// spacing, rotation or shear), and statistics of the scan's values inside a region.

/** World (mm) coordinates of voxel (i, j, k) through `affine` (rows of 4, mm). */
export function worldOf(affine, ijk) {
  return [0, 1, 2].map((r) => affine[r][0] * ijk[0] + affine[r][1] * ijk[1] + affine[r][2] * ijk[2] + affine[r][3]);
}

/** Distance in mm between the centres of voxels `a` and `b`. */
export function distanceMm(affine, a, b) {
  const [p, q] = [worldOf(affine, a), worldOf(affine, b)];
  return Math.hypot(p[0] - q[0], p[1] - q[1], p[2] - q[2]);
}

/**
 * Statistics of `data` at the voxel indices `indices` yields: {voxels, mL, mean, sd, min, max}
 * (sd: the sample standard deviation; NaN values count as voxels but not in the statistics).
 */
export function valueStats(data, indices, voxelVolumeMm3) {
  let voxels = 0;
  let n = 0;
  let mean = 0;
  let m2 = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const i of indices) {
    voxels++;
    const x = data[i];
    if (Number.isNaN(x)) continue;
    n++;
    const delta = x - mean; // Welford: stable for large counts
    mean += delta / n;
    m2 += delta * (x - mean);
    if (x < min) min = x;
    if (x > max) max = x;
  }
  return {
    voxels,
    mL: (voxels * voxelVolumeMm3) / 1000,
    mean: n ? mean : NaN,
    sd: n > 1 ? Math.sqrt(m2 / (n - 1)) : n ? 0 : NaN,
    min: n ? min : NaN,
    max: n ? max : NaN,
  };
}

/** The voxel indices of the box between voxels `a` and `b` (inclusive) of a grid `dims`. */
export function* boxIndices(dims, a, b) {
  const lo = [0, 1, 2].map((k) => Math.max(0, Math.min(a[k], b[k])));
  const hi = [0, 1, 2].map((k) => Math.min(dims[k] - 1, Math.max(a[k], b[k])));
  for (let z = lo[2]; z <= hi[2]; z++) {
    for (let y = lo[1]; y <= hi[1]; y++) {
      for (let x = lo[0]; x <= hi[0]; x++) yield x + dims[0] * (y + dims[1] * z);
    }
  }
}

/** The voxel indices where `values` equals `label`. */
export function* labelIndices(values, label) {
  for (let i = 0; i < values.length; i++) if (values[i] === label) yield i;
}
