// The slice viewer: axial, coronal and sagittal views of a volume in world orientation
// (radiological convention by default: the patient's right on the screen's left; neurological on
// request), with crosshair, zoom, pan, window/level and a label overlay. It only draws; the
// worker does the decoding.

/** The three views: which world axis is fixed, which runs across and which down. */
const VIEWS = {
  axial: { fixed: 2, across: 0, down: 1, edges: ['R', 'L', 'A', 'P'] },
  coronal: { fixed: 1, across: 0, down: 2, edges: ['R', 'L', 'S', 'I'] },
  sagittal: { fixed: 0, across: 1, down: 2, edges: ['A', 'P', 'S', 'I'] },
};
const WORLD_AXIS = { R: 0, L: 0, A: 1, P: 1, S: 2, I: 2 };

/**
 * How voxel axes map onto world axes (R, A, S), from the orientation letters of the affine.
 * canonical coordinate c[w] (0 = most L/P/I) ↔ voxel index along axis perm[w].
 */
export function worldGrid(dims, orientation, spacing) {
  const letters = orientation.split('');
  const valid = letters.length === 3 && new Set(letters.map((l) => WORLD_AXIS[l])).size === 3;
  const perm = [0, 1, 2];
  const flip = [false, false, false];
  if (valid) {
    letters.forEach((letter, voxelAxis) => {
      perm[WORLD_AXIS[letter]] = voxelAxis;
      flip[WORLD_AXIS[letter]] = 'LPI'.includes(letter);
    });
  }
  const strides = [1, dims[0], dims[0] * dims[1]];
  const size = perm.map((v) => dims[v]);
  // offsets[w][c]: what canonical coordinate c along world axis w adds to the voxel index.
  const offsets = perm.map((v, w) => {
    const n = size[w];
    const out = new Int32Array(n);
    for (let c = 0; c < n; c++) out[c] = (flip[w] ? n - 1 - c : c) * strides[v];
    return out;
  });
  return { perm, flip, size, spacing: perm.map((v) => spacing[v]), offsets, valid };
}

export class Viewer {
  /** @param {HTMLElement} root element holding one `.view[data-view]` per plane */
  constructor(root, { onCrosshair, onHover, onWindow, onBox }) {
    this.root = root;
    this.callbacks = { onCrosshair, onHover, onWindow, onBox };
    this.views = {};
    for (const el of root.querySelectorAll('.view')) {
      const name = el.dataset.view;
      const canvas = el.querySelector('canvas');
      this.views[name] = { name, el, canvas, zoom: 1, pan: [0, 0], spec: VIEWS[name] };
      this.attachInput(this.views[name]);
    }
    this.active = 'axial';
    this.layout = 'three';
    this.volume = null;
    this.overlay = null;
    this.window = [0, 1];
    this.neurological = false;
    this.hideCrosshair = false; // the embeddable element's crosshair="off"
    this.boxTool = false; // left-drag draws a box (MedSAM) instead of moving the crosshair
    this.box = null; // {view, c0, c1}: the box on screen, canonical corners
    this.tool = null; // an editing or measuring tool that left-drag drives (setTool)
    this.marks = []; // lines and boxes drawn over the slices (setMarks)
    this.brush = null; // {ijk, radiusMm}: the brush outline under the pointer
    new ResizeObserver(() => this.draw()).observe(root);
    root.addEventListener('keydown', (e) => this.onKey(e));
  }

  /** Shows a new volume: {dims, data: Float32Array, orientation, spacing} */
  setVolume({ dims, data, orientation, spacing }) {
    const grid = worldGrid(dims, orientation, spacing);
    this.volume = { dims, data, grid };
    this.overlay = null;
    this.marks = [];
    this.brush = null;
    this.cursor = grid.size.map((n) => Math.floor(n / 2));
    for (const view of Object.values(this.views)) {
      view.zoom = 1;
      view.pan = [0, 0];
    }
    this.draw();
    this.emitCrosshair();
  }

  /** Replaces the voxel values (another volume of a 4D file) on the same grid. */
  setData(data) {
    this.volume.data = data;
    this.draw();
    this.emitCrosshair();
  }

  setWindow(lo, hi) {
    this.window = [lo, Math.max(hi, lo + 1e-6)];
    this.draw();
  }

  /** @param overlay {values: Uint16Array, lut: Uint8ClampedArray (4 per value; alpha 0 hides), opacity} or null */
  setOverlay(overlay) {
    this.overlay = overlay;
    this.draw();
  }

  /** 'three' or one view's name. */
  setLayout(layout) {
    this.layout = layout;
    this.root.dataset.layout = layout;
    if (layout !== 'three') this.active = layout;
    this.draw();
  }

  /** Neurological convention (patient's left on the screen's left) when true, else radiological. */
  setNeurological(on) {
    this.neurological = on;
    this.draw();
  }

  /**
   * Canonical coordinate along a view's horizontal axis for screen column `col` (and back: the
   * mapping is its own inverse). Screen left is the high end (R, A) except for left–right in
   * neurological convention.
   */
  acrossIndex(view, col) {
    const n = this.volume.grid.size[view.spec.across];
    return this.neurological && view.spec.across === 0 ? col : n - 1 - col;
  }

  /** Moves the crosshair to voxel (i, j, k). */
  setVoxel(ijk) {
    const { grid } = this.volume;
    this.cursor = [0, 1, 2].map((w) => {
      const v = Math.max(0, Math.min(this.volume.dims[grid.perm[w]] - 1, Math.round(ijk[grid.perm[w]])));
      return grid.flip[w] ? grid.size[w] - 1 - v : v;
    });
    this.draw();
    this.emitCrosshair();
  }

  /** Moves the fixed-axis coordinate of a view (its slice), clamped to the volume. */
  setSlice(viewName, index) {
    const w = VIEWS[viewName].fixed;
    this.cursor[w] = Math.max(0, Math.min(this.volume.grid.size[w] - 1, index));
    this.draw();
    this.emitCrosshair();
  }

  /** Turns the box tool on or off; `onBox(viewName, c0, c1)` gets the canonical corners on release. */
  setBoxTool(on) {
    this.boxTool = on;
    if (!on) this.box = null;
    this.draw();
  }

  /**
   * Gives left-drag to `tool` (null: the crosshair again): `tool.down(ijk, viewName)`,
   * `tool.move(ijk, viewName)` and `tool.up()` get the voxel under the pointer (clamped to the slice).
   */
  setTool(tool) {
    this.tool = tool;
    this.brush = null;
    this.draw();
  }

  /**
   * Lines and boxes drawn over the slices: [{kind: 'line' | 'box', view, a: ijk, b: ijk, text}],
   * each shown on its view while that view shows the slice of `a`.
   */
  setMarks(marks) {
    this.marks = marks;
    this.draw();
  }

  /** The brush outline (a circle of `radiusMm` around voxel `ijk`) or null. */
  setBrush(brush) {
    this.brush = brush;
    this.draw();
  }

  /** Canonical coordinate under a canvas pixel, clamped to the slice (for box corners). */
  pickClamped(view, px, py) {
    const { grid } = this.volume;
    const { across, down } = view.spec;
    const { sx, sy, ox, oy } = this.placement(view);
    const clamp = (v, n) => Math.max(0, Math.min(n - 1, v));
    const col = clamp(Math.floor((px - ox) / sx), grid.size[across]);
    const row = clamp(Math.floor((py - oy) / sy), grid.size[down]);
    const c = [...this.cursor];
    c[across] = this.acrossIndex(view, col);
    c[down] = grid.size[down] - 1 - row;
    return c;
  }

  /** Client (page) coordinates of the centre of voxel (i, j, k) in a view (for tests and tools). */
  screenOf(viewName, ijk) {
    const view = this.views[viewName];
    const [x, y] = this.canvasOf(view, ijk);
    const rect = view.canvas.getBoundingClientRect();
    const ratio = view.canvas.width / rect.width;
    return [rect.left + x / ratio, rect.top + y / ratio];
  }

  /** Canvas pixel of the centre of voxel (i, j, k) in a view. */
  canvasOf(view, ijk) {
    const c = this.canonicalOf(ijk);
    const { grid } = this.volume;
    const { across, down } = view.spec;
    const { sx, sy, ox, oy } = this.placement(view);
    return [ox + (this.acrossIndex(view, c[across]) + 0.5) * sx, oy + (grid.size[down] - 1 - c[down] + 0.5) * sy];
  }

  /** Canonical world-grid coordinate of voxel (i, j, k) (the inverse of voxelOf). */
  canonicalOf(ijk) {
    const { grid } = this.volume;
    return [0, 1, 2].map((w) => (grid.flip[w] ? grid.size[w] - 1 - ijk[grid.perm[w]] : ijk[grid.perm[w]]));
  }

  /** The voxel axis (0: i, 1: j, 2: k) along which a view's slices step. */
  sliceAxis(viewName) {
    return this.volume.grid.perm[VIEWS[viewName].fixed];
  }

  sliceOf(viewName) {
    return this.cursor[VIEWS[viewName].fixed];
  }

  /** Voxel (i, j, k) of a canonical world-grid coordinate. */
  voxelOf(c) {
    const { grid } = this.volume;
    const ijk = [0, 0, 0];
    for (let w = 0; w < 3; w++) ijk[grid.perm[w]] = grid.flip[w] ? grid.size[w] - 1 - c[w] : c[w];
    return ijk;
  }

  valueAt(c) {
    const { grid, data } = this.volume;
    return data[grid.offsets[0][c[0]] + grid.offsets[1][c[1]] + grid.offsets[2][c[2]]];
  }

  labelAt(c) {
    if (!this.overlay) return 0;
    const { grid } = this.volume;
    return this.overlay.values[grid.offsets[0][c[0]] + grid.offsets[1][c[1]] + grid.offsets[2][c[2]]];
  }

  emitCrosshair() {
    this.callbacks.onCrosshair?.(this.voxelOf(this.cursor), this.valueAt(this.cursor), this.labelAt(this.cursor));
  }

  /** Screen placement of a view's slice image: scale (px per voxel, across/down) and origin. */
  placement(view) {
    const { grid } = this.volume;
    const { across, down } = view.spec;
    const w = view.canvas.width;
    const h = view.canvas.height;
    const mmW = grid.size[across] * grid.spacing[across];
    const mmH = grid.size[down] * grid.spacing[down];
    const pxPerMm = Math.min(w / mmW, h / mmH) * view.zoom;
    const sx = pxPerMm * grid.spacing[across];
    const sy = pxPerMm * grid.spacing[down];
    const ox = (w - grid.size[across] * sx) / 2 + view.pan[0];
    const oy = (h - grid.size[down] * sy) / 2 + view.pan[1];
    return { sx, sy, ox, oy };
  }

  /** Canonical coordinate under a canvas pixel of a view, or null outside the slice. */
  pick(view, px, py) {
    const { grid } = this.volume;
    const { across, down, fixed } = view.spec;
    const { sx, sy, ox, oy } = this.placement(view);
    const col = Math.floor((px - ox) / sx);
    const row = Math.floor((py - oy) / sy);
    if (col < 0 || row < 0 || col >= grid.size[across] || row >= grid.size[down]) return null;
    const c = [0, 0, 0];
    c[across] = this.acrossIndex(view, col);
    c[down] = grid.size[down] - 1 - row;
    c[fixed] = this.cursor[fixed];
    return c;
  }

  visibleViews() {
    return this.layout === 'three' ? Object.values(this.views) : [this.views[this.layout]];
  }

  draw() {
    if (!this.volume) return;
    for (const view of Object.values(this.views)) {
      const shown = this.layout === 'three' || this.layout === view.name;
      view.el.hidden = !shown;
      if (shown) this.drawView(view);
    }
  }

  drawView(view) {
    const { canvas } = view;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, width, height);
    const image = this.sliceImage(view);
    const { sx, sy, ox, oy } = this.placement(view);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(image, ox, oy, image.width * sx, image.height * sy);
    view.el.classList.toggle('active', view.name === this.active);
    if (this.box && this.box.view === view.name && this.box.c0[view.spec.fixed] === this.cursor[view.spec.fixed]) {
      // The box through the outer edges of its corner voxels.
      const { across, down } = view.spec;
      const xs = [this.box.c0, this.box.c1].map((c) => this.acrossIndex(view, c[across]));
      const ys = [this.box.c0, this.box.c1].map((c) => this.volume.grid.size[down] - 1 - c[down]);
      ctx.strokeStyle = 'rgba(255, 220, 0, 0.95)';
      ctx.lineWidth = Math.max(1, ratio) * 1.5;
      ctx.strokeRect(ox + Math.min(...xs) * sx, oy + Math.min(...ys) * sy, (Math.abs(xs[0] - xs[1]) + 1) * sx, (Math.abs(ys[0] - ys[1]) + 1) * sy);
    }
    this.drawMarks(view, ctx, ratio);
    if (this.hideCrosshair) return;
    // Crosshair through the centre of the current voxel.
    const { grid } = this.volume;
    const { across, down } = view.spec;
    const x = ox + (this.acrossIndex(view, this.cursor[across]) + 0.5) * sx;
    const y = oy + (grid.size[down] - 1 - this.cursor[down] + 0.5) * sy;
    ctx.strokeStyle = 'rgba(80, 200, 255, 0.8)';
    ctx.lineWidth = Math.max(1, ratio);
    ctx.beginPath();
    ctx.moveTo(x, 0);
    ctx.lineTo(x, height);
    ctx.moveTo(0, y);
    ctx.lineTo(width, y);
    ctx.stroke();
  }

  /** The marks and the brush outline on the slice a view shows. */
  drawMarks(view, ctx, ratio) {
    const { fixed } = view.spec;
    const onSlice = (ijk) => this.canonicalOf(ijk)[fixed] === this.cursor[fixed];
    ctx.lineWidth = Math.max(1, ratio) * 1.5;
    ctx.font = `${Math.round(12 * ratio)}px sans-serif`;
    for (const mark of this.marks) {
      if (mark.view !== view.name || !onSlice(mark.a)) continue;
      const [ax, ay] = this.canvasOf(view, mark.a);
      const [bx, by] = this.canvasOf(view, mark.b);
      ctx.strokeStyle = ctx.fillStyle = 'rgba(255, 170, 0, 0.95)';
      if (mark.kind === 'box') {
        const { sx, sy } = this.placement(view);
        ctx.strokeRect(Math.min(ax, bx) - sx / 2, Math.min(ay, by) - sy / 2, Math.abs(bx - ax) + sx, Math.abs(by - ay) + sy);
      } else {
        ctx.beginPath();
        ctx.moveTo(ax, ay);
        ctx.lineTo(bx, by);
        ctx.stroke();
      }
      if (mark.text) ctx.fillText(mark.text, Math.max(ax, bx) + 6 * ratio, Math.min(ay, by) - 4 * ratio);
    }
    if (this.brush && onSlice(this.brush.ijk)) {
      const [x, y] = this.canvasOf(view, this.brush.ijk);
      const { sx } = this.placement(view);
      const pxPerMm = sx / this.volume.grid.spacing[view.spec.across];
      ctx.strokeStyle = 'rgba(255, 255, 255, 0.8)';
      ctx.beginPath();
      ctx.arc(x, y, Math.max(this.brush.radiusMm * pxPerMm, sx / 2), 0, 2 * Math.PI);
      ctx.stroke();
    }
  }

  /** The current slice of a view as a canvas (one pixel per voxel). */
  sliceImage(view) {
    const { grid, data } = this.volume;
    const { across, down, fixed } = view.spec;
    const nw = grid.size[across];
    const nh = grid.size[down];
    if (!view.buffer || view.buffer.width !== nw || view.buffer.height !== nh) {
      view.buffer = new OffscreenCanvas(nw, nh);
      view.pixels = new ImageData(nw, nh);
    }
    const px = view.pixels.data;
    const [lo, hi] = this.window;
    const scale = 255 / (hi - lo);
    const base = grid.offsets[fixed][this.cursor[fixed]];
    const offAcross = grid.offsets[across];
    const offDown = grid.offsets[down];
    const overlay = this.overlay;
    const labels = overlay?.values;
    const lut = overlay?.lut;
    const opacity = overlay ? overlay.opacity : 0;
    const mirror = this.neurological && across === 0;
    let p = 0;
    for (let row = 0; row < nh; row++) {
      const rowBase = base + offDown[nh - 1 - row];
      for (let col = 0; col < nw; col++) {
        const index = rowBase + offAcross[mirror ? col : nw - 1 - col];
        let g = (data[index] - lo) * scale;
        g = g < 0 ? 0 : g > 255 ? 255 : g; // NaN stays NaN → drawn black by the clamped array
        let r = g;
        let gg = g;
        let b = g;
        if (labels) {
          const l = labels[index] * 4;
          const a = (lut[l + 3] / 255) * opacity;
          if (a > 0) {
            r = r * (1 - a) + lut[l] * a;
            gg = gg * (1 - a) + lut[l + 1] * a;
            b = b * (1 - a) + lut[l + 2] * a;
          }
        }
        px[p] = r;
        px[p + 1] = gg;
        px[p + 2] = b;
        px[p + 3] = 255;
        p += 4;
      }
    }
    view.buffer.getContext('2d').putImageData(view.pixels, 0, 0);
    return view.buffer;
  }

  attachInput(view) {
    const { canvas } = view;
    const point = (e) => {
      const rect = canvas.getBoundingClientRect();
      const ratio = canvas.width / rect.width;
      return [(e.clientX - rect.left) * ratio, (e.clientY - rect.top) * ratio];
    };
    let drag = null;
    canvas.addEventListener('contextmenu', (e) => e.preventDefault());
    canvas.addEventListener('pointerdown', (e) => {
      if (!this.volume) return;
      this.active = view.name;
      this.root.focus({ preventScroll: true });
      canvas.setPointerCapture(e.pointerId);
      const left = this.boxTool ? 'box' : this.tool ? 'tool' : 'cross';
      const mode = e.button === 2 ? 'window' : e.button === 1 || e.shiftKey ? 'pan' : left;
      drag = { mode, start: [e.clientX, e.clientY], pan: [...view.pan], window: [...this.window] };
      if (mode === 'cross') this.crossAt(view, point(e));
      else if (mode === 'tool') this.tool.down(this.voxelOf(this.pickClamped(view, ...point(e))), view.name);
      else if (mode === 'box') {
        const c = this.pickClamped(view, ...point(e));
        this.box = { view: view.name, c0: c, c1: c };
        this.draw();
      }
      else this.draw();
    });
    canvas.addEventListener('pointermove', (e) => {
      if (!this.volume) return;
      const c = this.pick(view, ...point(e));
      this.callbacks.onHover?.(c && this.voxelOf(c), c && this.valueAt(c), c ? this.labelAt(c) : 0);
      if (this.tool?.hover) this.tool.hover(c && this.voxelOf(c), view.name);
      if (!drag) return;
      const dx = e.clientX - drag.start[0];
      const dy = e.clientY - drag.start[1];
      if (drag.mode === 'cross') this.crossAt(view, point(e));
      if (drag.mode === 'tool') this.tool?.move(this.voxelOf(this.pickClamped(view, ...point(e))), view.name);
      if (drag.mode === 'box') {
        this.box.c1 = this.pickClamped(view, ...point(e));
        this.draw();
      }
      if (drag.mode === 'pan') {
        const ratio = canvas.width / canvas.getBoundingClientRect().width;
        view.pan = [drag.pan[0] + dx * ratio, drag.pan[1] + dy * ratio];
        this.draw();
      }
      if (drag.mode === 'window') {
        // Right-drag: horizontal changes the width, vertical the level (up = brighter).
        const [lo, hi] = drag.window;
        const width = Math.max((hi - lo) * Math.exp(dx / 200), 1e-6);
        const level = (lo + hi) / 2 + ((hi - lo) * dy) / 300;
        this.setWindow(level - width / 2, level + width / 2);
        this.callbacks.onWindow?.(this.window);
      }
    });
    const end = () => {
      if (drag?.mode === 'box' && this.box) this.callbacks.onBox?.(view.name, this.box.c0, this.box.c1);
      if (drag?.mode === 'tool') this.tool?.up();
      drag = null;
    };
    canvas.addEventListener('pointerup', end);
    canvas.addEventListener('pointercancel', end);
    canvas.addEventListener('pointerleave', () => {
      this.callbacks.onHover?.(null);
      this.tool?.hover?.(null, view.name);
    });
    canvas.addEventListener(
      'wheel',
      (e) => {
        if (!this.volume) return;
        e.preventDefault();
        this.active = view.name;
        if (e.ctrlKey || e.metaKey) {
          // Zoom about the pointer.
          const [px, py] = point(e);
          const factor = Math.exp(-e.deltaY / 300);
          const zoom = Math.max(0.25, Math.min(40, view.zoom * factor));
          const { sx, sy, ox, oy } = this.placement(view);
          const k = zoom / view.zoom;
          const { grid } = this.volume;
          const nw = grid.size[view.spec.across];
          const nh = grid.size[view.spec.down];
          // Keep the image point under the pointer fixed: px = ox' + u·sx' with u = (px − ox)/sx.
          const u = (px - ox) / sx;
          const v = (py - oy) / sy;
          view.pan = [px - u * k * sx - (canvas.width - nw * k * sx) / 2, py - v * k * sy - (canvas.height - nh * k * sy) / 2];
          view.zoom = zoom;
          this.draw();
        } else {
          this.setSlice(view.name, this.sliceOf(view.name) + (e.deltaY > 0 ? -1 : 1));
        }
      },
      { passive: false },
    );
  }

  crossAt(view, [px, py]) {
    const c = this.pick(view, px, py);
    if (!c) return;
    this.cursor = c;
    this.draw();
    this.emitCrosshair();
  }

  onKey(e) {
    if (!this.volume) return;
    const step = { ArrowUp: 1, ArrowRight: 1, PageUp: 10, ArrowDown: -1, ArrowLeft: -1, PageDown: -10 }[e.key];
    if (step === undefined) return;
    e.preventDefault();
    this.setSlice(this.active, this.sliceOf(this.active) + step);
  }

  /** The visible views side by side as one canvas (for saving a PNG). */
  snapshot() {
    const views = this.visibleViews();
    const out = document.createElement('canvas');
    out.width = views.reduce((s, v) => s + v.canvas.width, 0);
    out.height = Math.max(...views.map((v) => v.canvas.height));
    const ctx = out.getContext('2d');
    let x = 0;
    for (const v of views) {
      ctx.drawImage(v.canvas, x, 0);
      x += v.canvas.width;
    }
    return out;
  }
}
