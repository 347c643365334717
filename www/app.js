// The page: opening files, the info panel, windowing, the label overlay and saving, built from the
// same parts as <medseg-viewer> (lib/): the scan worker decodes and owns the scan (workers/scan.js),
// this thread only draws.
import { Viewer } from './lib/viewer.js';
import { ScanWorker } from './lib/scan.js';
import { droppedFiles, readInput } from './lib/files.js';
import { defaultPreset, labelTable, looksCt, overlayLut as lutOf, showEdgeLetters as writeEdgeLetters, sidecar, windowFor } from './lib/display.js';
import { loadCatalog, modelRunning, scanOpened, setupSegmentPanel } from './segment.js';
import { setupOffline } from './offline.js';
import { setupBoxTool } from './boxtool.js';
import { setupMeshPanel } from './mesh.js';
import { isPicture, decodePicture, pictureNifti, maskPng } from './picture.js';
import { EditTools } from './lib/edittools.js';
import { el } from './lib/dom.js';
import { worldOf as worldThrough } from './lib/measure.js';
import { ComparePanel, agreementLut } from './lib/compare.js';

const $ = (id) => document.getElementById(id);

const scanWorker = new ScanWorker({ onCrash: (message) => showError(`The scan worker failed: ${message}. Open the scan again.`) });
const call = (type, args, transfer) => scanWorker.call(type, args, transfer);

/**
 * What is loaded: the scan's info, name and source ({scanId} of the scan worker's open scan, one
 * object per opened scan; a 2D picture adds picture: {rgba, width, height}), the automatic window,
 * the overlay ({values, counts, table, opacity, unsaved}: unsaved while labels made here, by a
 * model or the Box tool, have not been saved).
 */
const state = { info: null, name: '', source: null, auto: null, overlay: null };

const viewer = new Viewer($('viewer'), {
  onCrosshair(ijk, value, label) {
    $('cursor-voxel').value = ijk.join(' ');
    $('cursor-world').textContent = worldOf(ijk).map((v) => v.toFixed(1)).join(', ') + ' mm';
    $('cursor-value').textContent = formatValue(value);
    $('cursor-label').textContent = labelText(label);
    meshPanel.showSlices();
  },
  onHover(ijk, value, label) {
    $('hover').textContent = ijk
      ? `under the pointer: voxel ${ijk.join(' ')} · ${worldOf(ijk).map((v) => v.toFixed(1)).join(', ')} mm · value ${formatValue(value)}${label ? ' · ' + labelText(label) : ''}`
      : '\u00a0';
  },
  onWindow() {
    $('window-preset').value = 'custom';
  },
  onBox: (view, c0, c1) => boxTool.onBox(view, c0, c1),
});

/** World (mm) coordinates of voxel (i, j, k) through the scan's affine. */
const worldOf = (ijk) => worldThrough(state.info.affine_mm, ijk);

function formatValue(v) {
  if (v === undefined || v === null) return '—';
  if (Number.isNaN(v)) return 'NaN';
  return Number.isInteger(v) ? String(v) : Number(v.toPrecision(6)).toString();
}

function labelText(value) {
  if (!value) return '—';
  const entry = state.overlay?.table.get(value);
  return entry ? `${value} ${entry.name}` : String(value);
}

function showError(message) {
  const box = $('message');
  box.className = '';
  box.textContent = message; // text, never HTML: file names and headers are untrusted
  box.hidden = false;
}

function clearMessage() {
  $('message').hidden = true;
}

function setBusy(busy) {
  document.body.dataset.busy = busy ? '1' : '';
  document.body.style.cursor = busy ? 'progress' : '';
}

/**
 * Opens a scan (one file, a pair, or a DICOM folder or zip, `series` choosing among its series);
 * on failure the previous scan stays on screen.
 */
async function openScan(fileList, startedAt = performance.now(), series = undefined) {
  const files = [...fileList];
  $('series-picker').hidden = true;
  setBusy(true);
  try {
    let read;
    let picture = null;
    if (files.length === 1 && isPicture(files[0])) {
      // A PNG or JPEG: decoded by the browser, shown as a one-slice scan (NIfTI built here).
      picture = await decodePicture(files[0]);
      read = [{ name: `${files[0].name}.nii`, bytes: pictureNifti(picture) }];
    } else {
      read = await readInput(files);
    }
    const name = files.length > 3 ? `${files[0].name.split('/')[0]} (${files.length} files)` : files.map((f) => f.name).join(' + ');
    const reply = await scanWorker.open(read, { series, progress: showOpenProgress });
    if (reply.chooseSeries) return chooseSeries(reply.chooseSeries, files);
    clearMessage();
    state.source = picture ? { scanId: reply.scanId, picture } : { scanId: reply.scanId };
    state.ownFormat = reply.ownFormat;
    $('save-format').hidden = !reply.ownFormat;
    $('save-format').replaceChildren(...['nii.gz', reply.ownFormat].filter(Boolean).map((f) => Object.assign(document.createElement('option'), { value: f, textContent: `as .${f}` })));
    showScan(name, reply);
    const firstSliceMs = performance.now() - startedAt;
    document.body.dataset.firstSliceMs = firstSliceMs.toFixed(1);
    document.body.dataset.firstSliceAt = performance.now().toFixed(1); // since the page's navigation started
    document.body.dataset.decodeMs = reply.decodeMs.toFixed(1);
    document.body.dataset.wasmBytes = reply.wasmBytes ?? '';
    $('stats').textContent = `decoded in ${reply.decodeMs.toFixed(0)} ms · first slice after ${firstSliceMs.toFixed(0)} ms · wasm memory ${(reply.wasmBytes / 2 ** 20).toFixed(0)} MB`;
  } catch (e) {
    const what = files.length > 3 ? `the ${files.length} files` : files.map((f) => f.name).join(' + ');
    showError(`Could not open ${what}: ${e.message}`);
  } finally {
    $('open-progress').hidden = true;
    setBusy(false);
    // Counts finished opens (shown, refused, or a series to choose): what a caller waits on.
    document.body.dataset.opens = String(Number(document.body.dataset.opens ?? 0) + 1);
  }
}

/** How the reading of many files goes (a DICOM folder). */
function showOpenProgress({ done, most, stage }) {
  const bar = $('open-progress');
  bar.hidden = false;
  bar.max = most;
  bar.value = done;
  bar.title = `${stage}: ${done} of ${most}`;
  $('stats').textContent = `${stage}: ${done} of ${most}`;
}

/** The files hold several DICOM series: the user picks one (description, modality, size, slices). */
function chooseSeries(list, files) {
  const box = $('series-picker');
  const title = Object.assign(document.createElement('p'), { textContent: `These files hold ${list.length} image series. Open which one?` });
  const buttons = list.map((s, i) => Object.assign(document.createElement('button'), {
    type: 'button',
    textContent: `${s.description || '(no description)'} · ${s.modality || '?'} · ${s.columns}×${s.rows} × ${s.slices} slices${s.frames_per_slice > 1 ? ` × ${s.frames_per_slice} time points` : ''}`,
    onclick: () => openScan(files, performance.now(), i),
  }));
  const cancel = Object.assign(document.createElement('button'), { type: 'button', textContent: 'Cancel', onclick: () => (box.hidden = true) });
  box.replaceChildren(title, ...buttons.map((b) => el('div', {}, b)), cancel);
  box.hidden = false;
}

function showScan(name, { info, data, auto }) {
  Object.assign(state, { info, name, auto, overlay: null });
  boxTool.reset();
  comparePanel.reset();
  document.body.dataset.state = 'ready';
  $('scan-name').textContent = name;
  $('scan-dims').textContent = info.dims.join(' × ');
  $('scan-type').textContent = info.datatype;
  $('scan-spacing').textContent = info.spacing_mm.map((s) => s.toFixed(3)).join(' × ') + ' mm' + (info.unit === 'mm' ? '' : ` (file unit: ${info.unit})`);
  $('scan-orientation').textContent = info.orientation;
  $('scan-range').textContent = info.value_range ? info.value_range.map(formatValue).join(' … ') : 'all NaN';
  $('scan-description').textContent = info.description || '—';
  const notes = $('scan-notes');
  notes.replaceChildren(...info.notes.map((n) => Object.assign(document.createElement('li'), { textContent: n })));
  const volumes = info.volume_count;
  $('volume-picker').hidden = volumes < 2;
  $('volume-index').max = volumes - 1;
  $('volume-index').value = 0;
  $('volume-count').textContent = `of 0–${volumes - 1}`;
  for (const el of document.querySelectorAll('.needs-scan, .needs-scan input, #cursor-voxel')) el.disabled = false;
  showPictureMode(!!state.source?.picture);
  viewer.setVolume({ dims: info.dims.slice(0, 3).concat([1, 1, 1]).slice(0, 3), data, orientation: info.orientation, spacing: info.spacing_mm });
  showEdgeLetters();
  $('window-preset').value = defaultPreset(info);
  scanOpened(info, name);
  applyPreset();
  showOverlay();
}

/**
 * A picture shows alone (the axial view) in neurological convention, so that its column x runs
 * left to right and row y top to bottom; the convention chosen before comes back for the next scan.
 */
let conventionBeforePicture = null;
function showPictureMode(on) {
  $('save-mask-png').hidden = !on;
  document.body.dataset.picture = on ? '1' : '';
  if (on) {
    conventionBeforePicture ??= $('convention').value;
    $('convention').value = 'neurological';
    viewer.setNeurological(true);
    $('layout').value = 'axial';
    viewer.setLayout('axial');
  } else if (conventionBeforePicture !== null) {
    $('convention').value = conventionBeforePicture;
    viewer.setNeurological(conventionBeforePicture === 'neurological');
    conventionBeforePicture = null;
  }
}

/** Orientation letters at the view edges for the current convention. */
function showEdgeLetters() {
  writeEdgeLetters(document, $('convention').value === 'neurological');
}

function applyPreset() {
  const preset = $('window-preset').value;
  if (preset === 'custom') return;
  viewer.setWindow(...windowFor(preset, state));
}

/** Applies an overlay reply {values, counts, table?} to the view and the label table. */
function setOverlay({ values, counts, table }, { unsaved = false } = {}) {
  state.overlay = { values, counts: new Map(counts), table: labelTable({ counts, table }), opacity: Number($('opacity').value), unsaved };
  showOverlay();
}

function overlayLut() {
  return lutOf(state.overlay.table);
}

function showOverlay() {
  const has = !!state.overlay;
  for (const el of document.querySelectorAll('.needs-overlay, .needs-overlay input')) el.disabled = !has;
  const body = $('label-table').querySelector('tbody');
  meshPanel.sync();
  if (!has) {
    body.replaceChildren();
    editTools.sync();
    if (comparePanel.mode === 'agreement') comparePanel.refresh();
    else viewer.setOverlay(null);
    return;
  }
  const mm3 = state.info.voxel_volume_mm3;
  const rows = [...state.overlay.table.values()].sort((a, b) => a.value - b.value).map((l) => {
    const tr = document.createElement('tr');
    const show = Object.assign(document.createElement('input'), { type: 'checkbox', checked: l.visible });
    show.setAttribute('aria-label', `show ${l.name}`);
    show.addEventListener('change', () => {
      l.visible = show.checked;
      viewer.setOverlay({ ...state.overlay, lut: overlayLut() });
      meshPanel.sync();
    });
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.backgroundColor = `rgb(${l.rgb.join(',')})`;
    const count = state.overlay.counts.get(l.value) ?? 0;
    const cells = [show, String(l.value), [swatch, l.name], String(count), ((count * mm3) / 1000).toFixed(2)];
    cells.forEach((content, i) => {
      const td = document.createElement('td');
      if (i >= 3 || i === 1) td.className = 'num';
      if (Array.isArray(content)) td.append(...content);
      else td.append(content);
      tr.append(td);
    });
    tr.dataset.value = l.value;
    tr.dataset.count = count;
    return tr;
  });
  body.replaceChildren(...rows);
  editTools.sync();
  if (comparePanel.mode === 'agreement') comparePanel.refresh();
  else viewer.setOverlay({ values: state.overlay.values, lut: overlayLut(), opacity: state.overlay.opacity });
}

/** An empty overlay on the scan's grid, for editing from scratch. */
function ensureOverlay() {
  if (!state.overlay) {
    const voxels = state.info.dims.slice(0, 3).reduce((a, b) => a * b, 1);
    setOverlay({ values: new Uint16Array(voxels), counts: [], table: [] });
  }
  return state.overlay;
}

async function openOverlay(fileList) {
  const files = [...fileList];
  if (!state.info) return showError('Open a scan first, then its label map.');
  setBusy(true);
  try {
    const read = await readInput(files);
    const reply = await call('overlay', { files: read }, read.map((f) => f.bytes));
    clearMessage();
    setOverlay(reply);
  } catch (e) {
    showError(`Could not open the label map ${files.map((f) => f.name).join(' + ')}: ${e.message}`);
  } finally {
    setBusy(false);
  }
}

function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = Object.assign(document.createElement('a'), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function baseName() {
  return state.name.split(' + ')[0].replace(/\.(nii|hdr|img)(\.gz)?$|\.(png|jpe?g|mgz|mgh|nrrd|nhdr)$/i, '') || 'scan';
}

async function saveOverlay() {
  const overlay = state.overlay;
  try {
    const values = overlay.values.slice();
    const own = $('save-format').value !== 'nii.gz' ? state.ownFormat : null;
    const table = own ? sidecar(overlay.table) : undefined;
    const { bytes } = await call('save', { values, table }, [values.buffer]);
    download(new Blob([bytes], { type: 'application/octet-stream' }), `${baseName()}_labels.${own ?? 'nii.gz'}`);
    download(new Blob([JSON.stringify(sidecar(overlay.table), null, 1)], { type: 'application/json' }), `${baseName()}_labels.json`);
    overlay.unsaved = false;
  } catch (e) {
    showError(`Could not save the label map: ${e.message}`);
  }
}

/** The overlay of an open picture as a PNG mask: 0 outside, 255 inside, the picture's size. */
async function saveMaskPng() {
  try {
    const { width, height } = state.source.picture;
    const overlay = state.overlay;
    download(await maskPng(overlay.values, width, height), `${baseName()}_mask.png`);
    overlay.unsaved = false;
  } catch (e) {
    showError(`Could not save the mask: ${e.message}`);
  }
}

/** A same-origin URL from the address, or null (with a message) for another site's. */
function sameOrigin(value, what) {
  const url = new URL(value, location.href);
  if (url.origin === location.origin) return url;
  showError(`Not opening ${value}: only ${what} from this site (${location.origin}) can be opened from the address.`);
  return null;
}

/**
 * ?scan=… opens a scan; for embedding (index.html?embed=1&scan=…, the viewer alone for an
 * iframe) also overlay=…&labels=… (a label map and its JSON), view=axial|coronal|sagittal,
 * slice=N (along that view's axis) and window=<preset>.
 */
async function openFromAddress() {
  const params = new URLSearchParams(location.search);
  const scan = params.get('scan');
  if (!scan) return;
  const url = sameOrigin(scan, 'scans');
  if (!url) return;
  await openUrl(url);
  if (!state.info) return;
  const overlay = params.get('overlay') && sameOrigin(params.get('overlay'), 'label maps');
  const labels = params.get('labels') && sameOrigin(params.get('labels'), 'label tables');
  if (overlay) {
    try {
      const files = await Promise.all([overlay, labels].filter(Boolean).map(async (u) => {
        const response = await fetch(u);
        if (!response.ok) throw new Error(`${u.pathname}: the server answered ${response.status}`);
        return { name: decodeURIComponent(u.pathname.split('/').pop()), bytes: await response.arrayBuffer() };
      }));
      setOverlay(await call('overlay', { files }, files.map((f) => f.bytes)));
    } catch (e) {
      showError(`Could not open the label map: ${e.message}`);
    }
  }
  const view = params.get('view');
  if (['axial', 'coronal', 'sagittal'].includes(view)) {
    $('layout').value = view;
    viewer.setLayout(view);
  }
  const slice = Number(params.get('slice'));
  if (params.get('slice') && Number.isFinite(slice)) viewer.setSlice(view && view !== 'three' ? view : 'axial', Math.round(slice));
  const preset = params.get('window');
  if (preset && [...$('window-preset').options].some((o) => o.value === preset && !o.hidden)) {
    $('window-preset').value = preset;
    applyPreset();
  }
}

async function openUrl(url) {
  const started = performance.now();
  try {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`the server answered ${response.status} ${response.statusText}`);
    const name = decodeURIComponent(url.pathname.split('/').pop());
    await openScan([{ name, bytes: await response.arrayBuffer() }], started);
  } catch (e) {
    showError(`Could not load ${url.pathname}: ${e.message}`);
  }
}

// Wiring.
$('open-scan').addEventListener('change', (e) => {
  const started = performance.now();
  if (e.target.files.length) openScan(e.target.files, started);
  e.target.value = '';
});
$('open-folder').addEventListener('change', (e) => {
  const started = performance.now();
  if (e.target.files.length) openScan(e.target.files, started);
  e.target.value = '';
});
$('open-overlay').addEventListener('change', (e) => {
  if (e.target.files.length) openOverlay(e.target.files);
  e.target.value = '';
});
$('load-sample').addEventListener('click', () => openUrl(new URL('sample/mni152_t1.nii.gz', location.href)));
$('save-overlay').addEventListener('click', saveOverlay);
$('save-mask-png').addEventListener('click', saveMaskPng);
$('save-png').addEventListener('click', () => viewer.snapshot().toBlob((b) => download(b, `${baseName()}_view.png`), 'image/png'));
$('layout').addEventListener('change', (e) => viewer.setLayout(e.target.value));
$('convention').addEventListener('change', (e) => {
  viewer.setNeurological(e.target.value === 'neurological');
  showEdgeLetters();
});
$('window-preset').addEventListener('change', applyPreset);
$('opacity').addEventListener('input', (e) => {
  state.overlay.opacity = Number(e.target.value);
  showOverlay();
});
$('open-reference').addEventListener('change', async (e) => {
  const files = [...e.target.files];
  e.target.value = '';
  if (!files.length) return;
  setBusy(true);
  try {
    const read = await readInput(files);
    await comparePanel.load(read, files.map((f) => f.name).join(' + '));
    clearMessage();
  } catch (err) {
    showError(`Could not open the reference ${files.map((f) => f.name).join(' + ')}: ${err.message}`);
  } finally {
    setBusy(false);
  }
});
$('volume-index').addEventListener('change', async (e) => {
  const index = Math.max(0, Math.min(state.info.volume_count - 1, Math.round(Number(e.target.value) || 0)));
  e.target.value = index;
  try {
    const { data } = await call('volume', { index });
    viewer.setData(data);
  } catch (err) {
    showError(`Could not show volume ${index}: ${err.message}`);
  }
});
$('goto').addEventListener('submit', (e) => {
  e.preventDefault();
  const ijk = $('cursor-voxel').value.trim().split(/[\s,]+/).map(Number);
  if (ijk.length !== 3 || ijk.some((v) => !Number.isInteger(v) || v < 0)) {
    return showError('Voxel coordinates are three whole numbers ≥ 0, e.g. "128 100 64".');
  }
  const outside = ijk.findIndex((v, axis) => v >= state.info.dims[axis]);
  if (outside >= 0) return showError(`Voxel ${ijk.join(' ')} is outside the scan: axis ${outside} has ${state.info.dims[outside]} voxels.`);
  clearMessage();
  viewer.setVoxel(ijk);
});

const viewerEl = $('viewer');
for (const type of ['dragenter', 'dragover']) {
  document.addEventListener(type, (e) => {
    e.preventDefault();
    viewerEl.classList.add('dragover');
  });
}
document.addEventListener('dragleave', (e) => {
  if (!e.relatedTarget) viewerEl.classList.remove('dragover');
});
document.addEventListener('drop', (e) => {
  e.preventDefault();
  viewerEl.classList.remove('dragover');
  const started = performance.now();
  droppedFiles(e.dataTransfer).then((files) => {
    if (files.length) openScan(files, started);
  }, (err) => showError(`Could not read the dropped folder: ${err.message}`));
});

const scanInput = (source) => scanWorker.modelInput(source.scanId);
setupSegmentPanel({
  getSource: () => state.source,
  scanInput,
  async onResult({ labels, manifest }) {
    const { counts } = await call('counts', { values: labels });
    setOverlay({ values: labels, counts, table: manifest.labels.filter((l) => l.value !== 0) }, { unsaved: true });
    document.body.dataset.segmented = manifest.name;
  },
  onError: showError,
});
const boxTool = setupBoxTool({
  viewer,
  getScan: () => ({ source: state.source, info: state.info }),
  scanInput,
  getValues: () => state.overlay?.values ?? null,
  // CT (signed integers reaching −500 or lower): the viewer's window; otherwise each slice's percentiles.
  getWindow: () => ({ lo: viewer.window[0], hi: viewer.window[1], percentiles: !looksCt(state.info) }),
  showValues(values, objects, removed) {
    const counts = new Map();
    for (let i = 0; i < values.length; i++) if (values[i]) counts.set(values[i], (counts.get(values[i]) ?? 0) + 1);
    const known = new Map([...(state.overlay?.table.values() ?? [])].filter((l) => !removed.includes(l.value)).map((l) => [l.value, l]));
    for (const { value, name, rgb } of objects) known.set(value, { value, name, rgb });
    const visible = new Map([...(state.overlay?.table.values() ?? [])].map((l) => [l.value, l.visible]));
    setOverlay({ values, counts: [...counts], table: [...known.values()] }, { unsaved: true });
    for (const l of state.overlay.table.values()) l.visible = visible.get(l.value) ?? true;
    showOverlay();
  },
  onError: showError,
});
const meshPanel = setupMeshPanel({
  getState: () => state,
  geometry: () => call('geometry'),
  viewer,
  download,
  baseName,
  onError: showError,
});
const editTools = new EditTools($('edit-panel'), viewer, {
  scan: () => (state.info ? { info: state.info } : null),
  overlay: () => state.overlay,
  ensureOverlay,
  changed(edit) {
    state.overlay.unsaved = true;
    document.body.dataset.edits = String(Number(document.body.dataset.edits ?? 0) + 1);
    showOverlay();
  },
  labelsChanged: showOverlay,
});
editTools.onSelect = (tool) => {
  // The Box (MedSAM) tool and the editing tools share left-drag: choosing one turns the other off.
  if (tool !== 'none' && $('box-tool').checked) $('box-tool').click();
};
$('box-tool').addEventListener('change', (e) => {
  if (e.target.checked && editTools.tool !== 'none') editTools.select('none');
});
document.addEventListener('keydown', (e) => editTools.onKey(e));
const comparePanel = new ComparePanel($('compare-panel'), {
  call,
  mine: () => state.overlay?.values ?? null,
  names: () => new Map([...(state.overlay?.table.values() ?? [])].map((l) => [l.value, l.name])),
  voxels: () => state.info.dims.slice(0, 3).reduce((a, b) => a * b, 1),
  showAgreement(values) {
    if (values) viewer.setOverlay({ values, lut: agreementLut(), opacity: state.overlay?.opacity ?? Number($('opacity').value) });
    else viewer.setOverlay(state.overlay && { values: state.overlay.values, lut: overlayLut(), opacity: state.overlay.opacity });
  },
  onError: showError,
});
window.medsegBoxTool = boxTool; // for tests and scripts
window.medsegEdit = editTools;
window.medsegCompare = comparePanel;
window.medsegMesh = meshPanel;
window.medsegViewer = viewer;
if (new URLSearchParams(location.search).get('embed') === '1') document.body.dataset.embed = '1';
loadCatalog();
openFromAddress();
/** Whether reloading the page loses nothing: no scan open (a dropped file would have to be dropped
 * again; one opened by its address reopens), no unsaved labels, no file opening, no model or MedSAM running. */
const idle = () => (!state.info || new URLSearchParams(location.search).has('scan')) && !state.overlay?.unsaved &&
  !document.body.dataset.busy && !modelRunning() && !boxTool.busy() && !meshPanel.running();
setupOffline($('offline-status'), $('update-app'), idle);
