// Label editing on a label map in memory: brush and eraser (a disc in the slice or a sphere, radius
// in mm through the scan's affine), flood fill within a slice, relabelling, and undo/redo. Every
// edit is stored as the voxels it changed (index and value before; the value after is one value),
// so the history's memory follows the size of the edits, not of the volume. No DOM here.

/** How many edits the history keeps (the oldest go first). */
export const HISTORY_STEPS = 200;

/** Which voxels an edit may change: every voxel, background (0) only, or one label's voxels only. */
export function lockAllows(lock, value) {
  if (lock === 'all' || lock === undefined || lock === null) return true;
  if (lock === 'background') return value === 0;
  return value === lock;
}

/** MᵀM of the affine's 3×3 part: squared mm of a voxel step Δ is Δᵀ·G·Δ (any spacing, rotation or shear). */
export function metricOf(affine) {
  const g = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) for (let r = 0; r < 3; r++) g[a][b] += affine[r][a] * affine[r][b];
  return g;
}

/** Inverse of a small symmetric positive-definite matrix (1×1, 2×2 or 3×3). */
function inverse(m) {
  const n = m.length;
  if (n === 1) return [[1 / m[0][0]]];
  if (n === 2) {
    const det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
    return [[m[1][1] / det, -m[0][1] / det], [-m[1][0] / det, m[0][0] / det]];
  }
  const [[a, b, c], [d, e, f], [g, h, i]] = m;
  const A = e * i - f * h;
  const B = -(d * i - f * g);
  const C = d * h - e * g;
  const det = a * A + b * B + c * C;
  return [
    [A / det, -(b * i - c * h) / det, (b * f - c * e) / det],
    [B / det, (a * i - c * g) / det, -(a * f - c * d) / det],
    [C / det, -(a * h - b * g) / det, (a * e - b * d) / det],
  ];
}

/**
 * The voxel offsets of a brush: every Δ (over `axes`, the others 0) whose centre lies within
 * `radiusMm` of the centre voxel's, measured through the metric `g` of the affine. A disc lies in
 * the slice (two axes), a sphere uses all three. The centre voxel is always in.
 */
export function brushOffsets(g, radiusMm, axes) {
  const sub = axes.map((a) => axes.map((b) => g[a][b]));
  const inv = inverse(sub);
  const r2 = radiusMm * radiusMm * (1 + 1e-9);
  // The ellipsoid {Δ: ΔᵀGΔ ≤ r²} reaches r·√(G⁻¹)ₐₐ along axis a.
  const reach = axes.map((_, k) => Math.floor(radiusMm * Math.sqrt(Math.max(0, inv[k][k])) + 1e-9));
  const out = [];
  const d = [0, 0, 0];
  const visit = (k) => {
    if (k === axes.length) {
      let q = 0;
      for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) q += d[a] * g[a][b] * d[b];
      if (q <= r2) out.push([...d]);
      return;
    }
    for (let v = -reach[k]; v <= reach[k]; v++) {
      d[axes[k]] = v;
      visit(k + 1);
    }
    d[axes[k]] = 0;
  };
  visit(0);
  return out;
}

/** A growing list of (voxel index, value before) pairs: one edit under way. */
class ChangeList {
  constructor() {
    this.indices = new Uint32Array(256);
    this.before = new Uint16Array(256);
    this.length = 0;
  }

  push(index, value) {
    if (this.length === this.indices.length) {
      const grown = (old) => {
        const bigger = new old.constructor(old.length * 2);
        bigger.set(old);
        return bigger;
      };
      this.indices = grown(this.indices);
      this.before = grown(this.before);
    }
    this.indices[this.length] = index;
    this.before[this.length] = value;
    this.length++;
  }

  /** The finished edit, trimmed to its size: {indices, before, after, ...extra}. */
  finish(after, extra) {
    return { indices: this.indices.slice(0, this.length), before: this.before.slice(0, this.length), after, ...extra };
  }
}

/**
 * The edits of one label map: `values` (Uint16Array, x fastest, `dims`), `counts` (Map value →
 * voxels, kept up to date), and the scan's `affine` (mm, rows of 4) for sizes in mm.
 */
export class LabelEdits {
  constructor({ values, counts, dims, affine }) {
    Object.assign(this, { values, counts, dims: dims.slice(0, 3), affine });
    this.metric = metricOf(affine);
    this.strides = [1, this.dims[0], this.dims[0] * this.dims[1]];
    this.undoStack = [];
    this.redoStack = [];
    this.open = null; // the stroke under way: {list, value}
    this.brushCache = new Map();
  }

  /** Starts a stroke (brush or eraser dabs until `end`): each voxel's value before is kept once. */
  begin(value) {
    this.end();
    this.open = { list: new ChangeList(), value };
  }

  /** Ends the stroke; returns the edit (or null when it changed nothing). */
  end(extra = {}) {
    if (!this.open) return null;
    const { list, value } = this.open;
    this.open = null;
    if (list.length === 0) return null;
    return this.record(list.finish(value, extra));
  }

  record(edit) {
    this.undoStack.push(edit);
    if (this.undoStack.length > HISTORY_STEPS) this.undoStack.shift();
    this.redoStack = [];
    return edit;
  }

  /** Sets voxel `index` to the open stroke's value if `lock` allows; true when it changed. */
  set(index, lock) {
    const { values, counts } = this;
    const old = values[index];
    const value = this.open.value;
    if (old === value || !lockAllows(lock, old)) return false;
    this.open.list.push(index, old);
    values[index] = value;
    counts.set(old, (counts.get(old) ?? 0) - 1);
    counts.set(value, (counts.get(value) ?? 0) + 1);
    return true;
  }

  /**
   * One dab of the open stroke at voxel `ijk`: a disc in the slice across `sliceAxis` (0–2), or a
   * sphere when `sphere`, of `radiusMm`. Returns how many voxels changed.
   */
  dab(ijk, { radiusMm, sphere = false, sliceAxis = 2, lock = 'all' }) {
    const axes = sphere ? [0, 1, 2] : [0, 1, 2].filter((a) => a !== sliceAxis);
    const key = `${radiusMm}|${axes.join()}`;
    let offsets = this.brushCache.get(key);
    if (!offsets) {
      offsets = brushOffsets(this.metric, radiusMm, axes);
      this.brushCache.clear();
      this.brushCache.set(key, offsets);
    }
    const [nx, ny, nz] = this.dims;
    let changed = 0;
    for (const [dx, dy, dz] of offsets) {
      const x = ijk[0] + dx;
      const y = ijk[1] + dy;
      const z = ijk[2] + dz;
      if (x < 0 || y < 0 || z < 0 || x >= nx || y >= ny || z >= nz) continue;
      if (this.set(x + nx * (y + ny * z), lock)) changed++;
    }
    return changed;
  }

  /** Dabs along the straight line from voxel `a` to `b` (one voxel apart), so a fast drag leaves no gaps. */
  line(a, b, options) {
    const steps = Math.max(1, ...[0, 1, 2].map((k) => Math.abs(b[k] - a[k])));
    let changed = 0;
    for (let s = 1; s <= steps; s++) {
      changed += this.dab([0, 1, 2].map((k) => Math.round(a[k] + ((b[k] - a[k]) * s) / steps)), options);
    }
    return changed;
  }

  /**
   * Flood fill (4-connected) within the slice across `sliceAxis` through `ijk`, with `value`: the
   * region is the seed's label, or, with `range` [lo, hi] and the scan's `data`, the voxels whose
   * value lies in the range. `lock` limits which voxels change. Returns the edit or null.
   */
  fill(ijk, { value, sliceAxis = 2, range = null, data = null, lock = 'all' }) {
    const [u, v] = [0, 1, 2].filter((a) => a !== sliceAxis);
    const { dims, strides, values } = this;
    const base = ijk[sliceAxis] * strides[sliceAxis];
    const inside = range
      ? (i) => data[i] >= range[0] && data[i] <= range[1]
      : ((seed) => (i) => values[i] === seed)(values[ijk[0] + dims[0] * (ijk[1] + dims[1] * ijk[2])]);
    const nu = dims[u];
    const nv = dims[v];
    const seen = new Uint8Array(nu * nv);
    const stack = [ijk[u] + nu * ijk[v]];
    seen[stack[0]] = 1;
    const index = (p) => base + (p % nu) * strides[u] + Math.floor(p / nu) * strides[v];
    if (!inside(index(stack[0]))) return null;
    this.begin(value);
    while (stack.length) {
      const p = stack.pop();
      const i = index(p);
      this.set(i, lock);
      const pu = p % nu;
      const pv = (p - pu) / nu;
      for (const [qu, qv] of [[pu - 1, pv], [pu + 1, pv], [pu, pv - 1], [pu, pv + 1]]) {
        if (qu < 0 || qv < 0 || qu >= nu || qv >= nv) continue;
        const q = qu + nu * qv;
        if (seen[q]) continue;
        seen[q] = 1;
        if (inside(index(q))) stack.push(q);
      }
    }
    return this.end({ kind: 'fill' });
  }

  /** Sets every voxel of label `from` to `to` (0 deletes it); `extra` travels with the edit (e.g. the table entry). */
  relabel(from, to, extra = {}) {
    this.begin(to);
    const { values } = this;
    for (let i = 0; i < values.length; i++) if (values[i] === from) this.set(i, 'all');
    return this.end(extra) ?? this.record({ indices: new Uint32Array(0), before: new Uint16Array(0), after: to, ...extra });
  }

  apply(edit, forward) {
    const { values, counts } = this;
    const { indices, before, after } = edit;
    for (let k = 0; k < indices.length; k++) {
      const [from, to] = forward ? [before[k], after] : [after, before[k]];
      values[indices[k]] = to;
      counts.set(from, (counts.get(from) ?? 0) - 1);
      counts.set(to, (counts.get(to) ?? 0) + 1);
    }
  }

  /** Takes back the last edit; returns it (null when there is none). */
  undo() {
    this.end();
    const edit = this.undoStack.pop();
    if (!edit) return null;
    this.apply(edit, false);
    this.redoStack.push(edit);
    return edit;
  }

  /** Does again the last edit taken back; returns it (null when there is none). */
  redo() {
    this.end();
    const edit = this.redoStack.pop();
    if (!edit) return null;
    this.apply(edit, true);
    this.undoStack.push(edit);
    return edit;
  }

  /** Bytes the history holds (both stacks): 6 per changed voxel. */
  historyBytes() {
    let bytes = 0;
    for (const e of [...this.undoStack, ...this.redoStack]) bytes += e.indices.byteLength + e.before.byteLength;
    return bytes;
  }
}
