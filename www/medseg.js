// <medseg-viewer>: the medseg viewer as one HTML element, for any static page.
//
//   <script type="module" src="medseg/medseg.js"></script>
//   <medseg-viewer scan="cases/brain.nii.gz" model="deepbet" view="axial" slice="120"></medseg-viewer>
//
// Attributes: scan, overlay (a label map on the same grid), labels (its JSON sidecar), model (the
// models offered, space-separated; none: view only), view (three | axial | coronal | sagittal),
// slice (index along the view's axis, from inferior / posterior / left), window (auto | full |
// ct-brain | ct-soft | ct-lung | ct-bone | W/L such as 80/40), crosshair ("i j k", or off),
// editable (present: the brush, eraser, fill, undo, ruler and statistics tools beside the views),
// reference (a label map to compare with, reference-labels its JSON: hidden until the user clicks
// Compare or compare() runs), threads (how many threads models run on; default: the cores, at most 8).
// API: load(urlOrFileOrBytes), segment(modelName), setSlice(index, view?), getLabelVolumes(),
// compare(), tools (the EditTools); events: loaded, progress, segmented, edited, compared, error
// (details in event.detail).
// Each element has its own scan worker, which decodes the scan once; every model run gets a fresh
// worker fed with that worker's stored voxels. Models run on the threaded wasm build when the page
// is cross-origin isolated, else on the single-threaded one (lib/wasm.js), so no isolation is
// needed; `segmented` says which ran. Built from the same parts (lib/) as the page.
import { Viewer } from './lib/viewer.js';
import { ScanWorker, runModel } from './lib/scan.js';
import { defaultThreads } from './lib/wasm.js';
import { loadCatalog, modelFiles } from './lib/catalog.js';
import { readInput } from './lib/files.js';
import { defaultPreset, labelTable, overlayLut, showEdgeLetters, windowFor } from './lib/display.js';
import { EditTools } from './lib/edittools.js';
import { el } from './lib/dom.js';
import { ComparePanel, agreementLut } from './lib/compare.js';

const VIEWS = ['axial', 'coronal', 'sagittal'];


export class MedsegViewer extends HTMLElement {
  static observedAttributes = ['scan', 'view', 'slice', 'window', 'crosshair', 'model', 'editable', 'reference'];

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    const views = VIEWS.map((name) => el('div', { className: 'view' },
      el('canvas'), ...['left', 'right', 'top', 'bottom'].map((edge) => el('span', { className: `edge ${edge}` })),
      el('span', { className: 'title', textContent: name[0].toUpperCase() + name.slice(1) })));
    views.forEach((v, i) => (v.dataset.view = VIEWS[i]));
    this.ui = {
      views: el('div', { className: 'views', tabIndex: 0 }, ...views),
      picker: el('select', { ariaLabel: 'model' }),
      run: el('button', { type: 'button', textContent: 'Segment' }),
      cancel: el('button', { type: 'button', textContent: 'Cancel', hidden: true }),
      progress: el('progress', { max: 1, value: 0, hidden: true }),
      status: el('span', { className: 'status' }),
      legend: el('ul', { className: 'legend' }),
    };
    this.ui.views.dataset.layout = 'three';
    this.ui.bar = el('div', { className: 'bar' }, this.ui.picker, this.ui.run, this.ui.cancel, this.ui.progress);
    this.ui.edit = el('div', { className: 'edit' });
    this.ui.compare = el('div', { className: 'compare' });
    this.ui.side = el('div', { className: 'side', hidden: true }, this.ui.edit, this.ui.compare);
    root.append(
      el('link', { rel: 'stylesheet', href: new URL('./medseg-viewer.css', import.meta.url).href }),
      el('div', { className: 'main' }, this.ui.views, this.ui.side),
      el('div', { className: 'foot' }, this.ui.bar, this.ui.status, this.ui.legend),
    );
    this.viewer = new Viewer(this.ui.views, {});
    this.state = { info: null, source: null, auto: null, overlay: null, generation: 0 };
    this.tools = new EditTools(this.ui.edit, this.viewer, {
      scan: () => (this.state.info ? { info: this.state.info } : null),
      overlay: () => this.state.overlay,
      ensureOverlay: () => {
        if (!this.state.overlay) this.setOverlay({ values: new Uint16Array(this.voxelCount()), counts: [], table: [] });
        return this.state.overlay;
      },
      changed: (edit) => {
        this.showOverlay();
        this.dispatchEvent(new CustomEvent('edited', { detail: { kind: edit.kind ?? 'edit', voxels: edit.indices.length, volumes: this.getLabelVolumes() } }));
      },
      labelsChanged: () => this.showOverlay(),
    });
    this.comparePanel = new ComparePanel(this.ui.compare, {
      call: (type, args, transfer) => this.worker.call(type, args, transfer),
      mine: () => this.state.overlay?.values ?? null,
      names: () => new Map([...(this.state.overlay?.table.values() ?? [])].map((l) => [l.value, l.name])),
      voxels: () => this.voxelCount(),
      showAgreement: (values) => {
        if (values) this.viewer.setOverlay({ values, lut: agreementLut(), opacity: 0.45 });
        else this.viewer.setOverlay(this.state.overlay && { values: this.state.overlay.values, lut: overlayLut(this.state.overlay.table), opacity: 0.45 });
      },
      compared: (result) => this.dispatchEvent(new CustomEvent('compared', { detail: result })),
      onError: (message) => this.fail(`Compare: ${message}`),
    });
    this.ui.views.addEventListener('keydown', (e) => {
      if (this.hasAttribute('editable')) this.tools.onKey(e);
    });
    this.showSide();
    this.running = null;
    this.ui.run.addEventListener('click', () => this.segment(this.ui.picker.value).catch(() => {}));
    this.ui.cancel.addEventListener('click', () => this.running?.cancel());
    this.addEventListener('dragover', (e) => e.preventDefault());
    this.addEventListener('drop', (e) => {
      e.preventDefault();
      const files = [...(e.dataTransfer?.files ?? [])];
      if (files.length) this.load(files.length === 1 ? files[0] : files).catch(() => {});
    });
  }

  connectedCallback() {
    this.worker ??= new ScanWorker();
    this.offerModels();
    if (this.getAttribute('scan') && !this.state.info && !this.loading) this.load(this.getAttribute('scan')).catch(() => {});
  }

  disconnectedCallback() {
    // Removed from the page: free the worker (a new one starts if the element comes back).
    this.running?.cancel();
    this.worker?.terminate();
    this.worker = null;
  }

  attributeChangedCallback(name, old, value) {
    if (!this.isConnected || old === value) return;
    if (name === 'scan' && value) this.load(value).catch(() => {});
    if (name === 'model') this.offerModels();
    if (name === 'editable' || name === 'reference') this.showSide();
    if (name === 'reference' && value && this.state.info) this.loadReference(value, this.getAttribute('reference-labels')).catch(() => {});
    if (this.state.info && ['view', 'slice', 'window', 'crosshair'].includes(name)) this.applyDisplay();
  }

  /** The models this element offers (attribute `model`), marking those whose files are missing. */
  async offerModels() {
    const names = (this.getAttribute('model') ?? '').split(/[\s,]+/).filter((n) => n && n !== 'none');
    this.ui.bar.hidden = names.length === 0;
    if (!names.length) return;
    let models = [];
    try {
      models = await loadCatalog();
    } catch (e) {
      this.fail(`No model list: ${e.message}`);
    }
    this.ui.picker.replaceChildren(...names.map((name) => {
      const m = models.find((x) => x.name === name);
      return el('option', { value: name, textContent: m ? m.title : `${name} (not in the catalog)`, disabled: !m });
    }));
    this.ui.picker.hidden = names.length < 2;
    this.ui.run.disabled = !this.state.info;
  }

  /**
   * Opens a scan: a URL (string or URL, relative to the page), a File/Blob, bytes (ArrayBuffer or
   * typed array), or an array of Files (a .hdr with its .img, an .nhdr with its data, the files of a
   * DICOM folder: the series with the most slices when there are several). Resolves with the scan's info.
   */
  async load(input) {
    const started = performance.now();
    const generation = ++this.state.generation;
    this.loading = true;
    this.setStatus('Loading…');
    try {
      const read = await readInput(input);
      this.worker ??= new ScanWorker();
      let reply = await this.worker.open(read);
      if (reply.chooseSeries) {
        // A DICOM folder with several series: the one with the most slices (the files were handed
        // over, so they are read again).
        const series = reply.chooseSeries.reduce((best, s, i, all) => (s.slices * s.frames_per_slice > all[best].slices * all[best].frames_per_slice ? i : best), 0);
        reply = await this.worker.open(await readInput(input), { series });
      }
      if (generation !== this.state.generation) return reply.info; // a later load() won
      const name = read.length > 3 ? `${read[0].name.split('/')[0]} (${read.length} files)` : read.map((f) => f.name).join(' + ');
      Object.assign(this.state, { info: reply.info, source: { scanId: reply.scanId }, auto: reply.auto, overlay: null, name });
      this.comparePanel.reset();
      this.tools.sync();
      const { info } = reply;
      this.viewer.setVolume({ dims: info.dims.slice(0, 3), data: reply.data, orientation: info.orientation, spacing: info.spacing_mm });
      this.applyDisplay();
      this.showLegend();
      this.firstSliceMs = performance.now() - started;
      this.firstSliceAt = performance.now(); // since the page's navigation started
      this.wasmBytes = reply.wasmBytes; // this element's worker's wasm memory
      this.ui.run.disabled = !!this.running;
      this.setStatus(`${this.state.name} · ${info.dims.slice(0, 3).join('×')} · ${info.spacing_mm.map((s) => s.toFixed(2)).join('×')} mm`);
      const overlay = typeof input === 'string' && input === this.getAttribute('scan') ? this.getAttribute('overlay') : null;
      if (overlay) await this.loadOverlay(overlay, this.getAttribute('labels'));
      const reference = typeof input === 'string' && input === this.getAttribute('scan') ? this.getAttribute('reference') : null;
      if (reference) await this.loadReference(reference, this.getAttribute('reference-labels'));
      this.dataset.state = 'ready';
      this.dispatchEvent(new CustomEvent('loaded', { detail: { info, name: this.state.name, firstSliceMs: this.firstSliceMs } }));
      return info;
    } catch (e) {
      throw this.fail(`Could not open ${describe(input)}: ${e.message}`);
    } finally {
      if (generation === this.state.generation) this.loading = false;
    }
  }

  /** Overlays a label map (URL or File) with an optional JSON sidecar (URL or File). */
  async loadOverlay(input, labels) {
    const files = await readInput(labels ? [input, labels] : input);
    const reply = await this.worker.call('overlay', { files }, files.map((f) => f.bytes));
    this.setOverlay(reply);
  }

  /** Reads a reference label map (URL or File, with an optional JSON table); hidden until compared. */
  async loadReference(input, labels) {
    try {
      const files = await readInput(labels ? [input, labels] : input);
      await this.comparePanel.load(files, describe(input));
    } catch (e) {
      throw this.fail(`Could not open the reference ${describe(input)}: ${e.message}`);
    }
  }

  /**
   * Compares the labels shown (edited, segmented or loaded) with the reference: shows the table and
   * resolves with {rows: [{label, name, dice, hd95_mm, ml_mine, ml_reference, ml_difference}], meanDice}.
   */
  async compare() {
    try {
      return await this.comparePanel.compare();
    } catch (e) {
      throw this.fail(`Compare: ${e.message}`);
    }
  }

  /** Runs a catalog model on the open scan; resolves with its label volumes (as getLabelVolumes). */
  async segment(modelName) {
    const name = modelName || this.ui.picker.value;
    try {
      if (!this.state.info) throw new Error('open a scan first');
      if (this.running) throw new Error('a model is already running on this viewer');
      const manifest = (await loadCatalog()).find((m) => m.name === name);
      if (!manifest) throw new Error(`no model called "${name}" in models/catalog.json`);
      const source = this.state.source;
      this.ui.run.disabled = true;
      this.ui.cancel.hidden = false;
      this.ui.progress.hidden = false;
      const progress = (stage, fraction) => {
        this.ui.progress.value = fraction;
        this.setStatus(`${manifest.title}: ${stage} ${Math.round(fraction * 100)} %`);
        this.dispatchEvent(new CustomEvent('progress', { detail: { model: name, stage, fraction } }));
      };
      progress('fetching the model', 0);
      this.running = { cancel: () => {} };
      const files = await modelFiles(manifest);
      const input = await this.worker.modelInput(source.scanId);
      const asked = Number(this.getAttribute('threads'));
      const threads = Number.isInteger(asked) && asked >= 1 ? asked : defaultThreads();
      this.running = runModel({ manifest, files, input, threads }, progress);
      const { labels, seconds, build, threads: ran } = await this.running.result;
      if (this.state.source !== source) throw new Error('another scan was opened while the model ran');
      const { counts } = await this.worker.call('counts', { values: labels });
      this.setOverlay({ values: labels, counts, table: manifest.labels.filter((l) => l.value !== 0) });
      const volumes = this.getLabelVolumes();
      this.setStatus(`${manifest.title}: done in ${seconds.toFixed(1)} s`);
      this.dispatchEvent(new CustomEvent('segmented', { detail: { model: name, seconds, volumes, build, threads: ran } }));
      return volumes;
    } catch (e) {
      throw this.fail(`${name || 'Segmentation'}: ${e.message}`);
    } finally {
      this.running = null;
      this.ui.run.disabled = !this.state.info;
      this.ui.cancel.hidden = true;
      this.ui.progress.hidden = true;
    }
  }

  /** Moves a view's slice (default: the `view` attribute's, or axial). */
  setSlice(index, view = this.currentView()) {
    if (!this.state.info) throw new Error('no scan loaded');
    this.viewer.setSlice(view, Math.round(Number(index)));
  }

  /** The slice a view shows now. */
  getSlice(view = this.currentView()) {
    return this.viewer.sliceOf(view);
  }

  /** [{value, name, voxels, mL, rgb}] of the overlay (loaded or segmented); [] without one. */
  getLabelVolumes() {
    const overlay = this.state.overlay;
    if (!overlay) return [];
    const mm3 = this.state.info.voxel_volume_mm3;
    return [...overlay.table.values()].sort((a, b) => a.value - b.value).map(({ value, name, rgb }) => {
      const voxels = overlay.counts.get(value) ?? 0;
      return { value, name, rgb, voxels, mL: (voxels * mm3) / 1000 };
    });
  }

  // Internals.

  currentView() {
    const v = this.getAttribute('view');
    return VIEWS.includes(v) ? v : 'axial';
  }

  /** Applies the view, window, crosshair and slice attributes. */
  applyDisplay() {
    const view = this.getAttribute('view');
    const layout = VIEWS.includes(view) ? view : 'three';
    this.ui.views.dataset.layout = layout;
    this.viewer.setLayout(layout);
    const win = (this.getAttribute('window') ?? 'auto').trim();
    this.viewer.setWindow(...windowFor(win === 'auto' ? defaultPreset(this.state.info) : win, this.state));
    const cross = (this.getAttribute('crosshair') ?? '').trim();
    this.viewer.hideCrosshair = cross === 'off' || cross === 'none';
    const ijk = cross.split(/[\s,]+/).map(Number);
    if (ijk.length === 3 && ijk.every(Number.isInteger)) this.viewer.setVoxel(ijk);
    const slice = this.getAttribute('slice');
    if (slice !== null && slice !== '' && Number.isFinite(Number(slice))) this.viewer.setSlice(this.currentView(), Math.round(Number(slice)));
    this.viewer.draw();
    showEdgeLetters(this.ui.views);
  }

  setOverlay({ values, counts, table }) {
    const entries = labelTable({ counts, table }, { withUncounted: false });
    this.state.overlay = { values, counts: new Map(counts), table: entries };
    this.showOverlay();
  }

  /** Draws the overlay (or the agreement view) and its legend after a change. */
  showOverlay() {
    this.tools.sync();
    if (this.comparePanel.mode === 'agreement') this.comparePanel.refresh();
    else this.viewer.setOverlay(this.state.overlay && { values: this.state.overlay.values, lut: overlayLut(this.state.overlay.table), opacity: 0.45 });
    this.showLegend();
  }

  /** The side panel shows with the `editable` or `reference` attribute. */
  showSide() {
    this.ui.side.hidden = !this.hasAttribute('editable') && !this.hasAttribute('reference');
    this.ui.edit.hidden = !this.hasAttribute('editable');
    this.ui.compare.hidden = !this.hasAttribute('reference');
    if (!this.hasAttribute('editable') && this.tools.tool !== 'none') this.tools.select('none');
    this.viewer.draw();
  }

  voxelCount() {
    return this.state.info.dims.slice(0, 3).reduce((a, b) => a * b, 1);
  }

  showLegend() {
    this.ui.legend.replaceChildren(...this.getLabelVolumes().map((l) => {
      const swatch = el('span', { className: 'swatch' });
      swatch.style.backgroundColor = `rgb(${l.rgb.join(',')})`;
      return el('li', {}, swatch, `${l.name}: ${l.mL.toFixed(1)} mL`);
    }));
  }

  setStatus(text) {
    this.ui.status.textContent = text;
    this.ui.status.classList.remove('error');
  }

  /** Shows the message, fires `error`, and returns an Error to throw. */
  fail(message) {
    this.ui.status.textContent = message;
    this.ui.status.classList.add('error');
    this.dispatchEvent(new CustomEvent('error', { detail: { message } }));
    return new Error(message);
  }
}

function describe(input) {
  if (typeof input === 'string') return input;
  if (input instanceof URL) return input.pathname;
  if (Array.isArray(input)) return input.map(describe).join(' + ');
  return input?.name ?? 'the scan';
}

if (!customElements.get('medseg-viewer')) customElements.define('medseg-viewer', MedsegViewer);
