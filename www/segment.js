// The Segment panel: the model catalog, bring-your-own models, and running a model on the open
// scan in a disposable worker (lib/scan.js runModel) on the chosen backend, with progress and Cancel.
import { backendLines, chosenBackend, chosenThreads, setupBackendPicker } from './backend.js';
import { hasModes, isAvailable, manifestForMode, networkRuns, loadCatalog as readCatalog, modelFiles as catalogFiles } from './lib/catalog.js';
import { runModel } from './lib/scan.js';

const $ = (id) => document.getElementById(id);

/** Models offered: catalog entries plus models the user loaded, by name. */
const models = new Map();
let running = null;
/** The open scan's header summary (dims, spacing_mm, description), for time estimates. */
let scanInfo = null;

/** Seconds per network run measured in this browser, by model name and mode (estimates). */
const SECONDS_KEY = 'medseg.secondsPerRun';
function secondsPerRun() {
  try {
    return JSON.parse(localStorage.getItem(SECONDS_KEY)) ?? {};
  } catch {
    return {};
  }
}
function rememberSecondsPerRun(name, seconds) {
  try {
    localStorage.setItem(SECONDS_KEY, JSON.stringify({ ...secondsPerRun(), [name]: seconds }));
  } catch {
    // Storage refused (private mode, quota): estimates stay unmeasured.
  }
}

/** Reads the catalog and marks which models have their files here. */
export async function loadCatalog() {
  const picker = $('model-picker');
  try {
    const catalog = await readCatalog();
    for (const manifest of catalog) models.set(manifest.name, { manifest, available: false, files: null });
    await Promise.all(catalog.map(async (manifest) => (models.get(manifest.name).available = await isAvailable(manifest))));
  } catch (e) {
    picker.replaceChildren(new Option(`No model list (${e.message.replace(/^models\/catalog.json: /, '')})`, ''));
    return;
  }
  renderPicker();
}

function renderPicker(selected) {
  const picker = $('model-picker');
  const options = [...models.values()].map(({ manifest, available }) => {
    const size = manifest.files.reduce((s, f) => s + f.bytes, 0) / 1e6;
    const state = available ? '' : ' — not downloaded';
    return new Option(`${manifest.title} (${size.toFixed(1)} MB)${state}`, manifest.name);
  });
  picker.replaceChildren(...options);
  if (selected) picker.value = selected;
  describe();
}

function describe() {
  const entry = models.get($('model-picker').value);
  if (!entry) return;
  const { manifest, available } = entry;
  const where = available ? 'available on this site' : `not on this site: run \`medseg models fetch ${manifest.name}\``;
  $('model-about').textContent = `${manifest.description} Licence: ${manifest.licence}. ${where}.`;
  $('model-mode-row').hidden = !hasModes(manifest);
  estimate();
}

/** The chosen mode's cost on the open scan: network runs, and seconds once a run was measured here. */
function estimate() {
  const entry = models.get($('model-picker').value);
  const out = $('model-estimate');
  if (!entry || !hasModes(entry.manifest) || !scanInfo) return (out.textContent = '');
  const runs = (mode) => networkRuns(manifestForMode(entry.manifest, mode), scanInfo.dims, scanInfo.spacing_mm);
  const mode = $('model-mode').value;
  const each = secondsPerRun()[entry.manifest.name];
  const time = each ? ` ≈ ${formatDuration(runs(mode) * each)} here` : ' (seconds known after a first run here)';
  out.textContent = `${runs(mode)} network run${runs(mode) === 1 ? '' : 's'} on this scan${time}; fast ${runs('fast')}, accurate ${runs('accurate')}.`;
}

function formatDuration(seconds) {
  return seconds < 90 ? `${Math.round(seconds)} s` : `${Math.round(seconds / 60)} min`;
}

/**
 * Tells the panel which scan is open: estimates use its size, and a brain-extraction choice moves
 * to HD-BET (trained on T1, T1 with contrast, T2 and FLAIR) when the scan's name or description says
 * it is not a plain T1 (deepbet is T1-only).
 */
export function scanOpened(info, name) {
  scanInfo = info;
  const text = `${name} ${info.description ?? ''}`;
  const notT1 = /flair|t2|\bpd\b|proton.?density|t1.?(c|ce|gd|post|contrast)|gad/i.test(text);
  if (notT1 && models.get('hd-bet')?.available && ['', 'deepbet'].includes($('model-picker').value)) {
    $('model-picker').value = 'hd-bet';
  }
  describe();
}

/** Whether a model is running (from fetching its files to its labels). */
export function modelRunning() {
  return running !== null;
}

/** A model the user dropped: its manifest .json plus the files it lists. */
async function loadOwnModel(fileList) {
  const files = [...fileList];
  const manifestFile = files.find((f) => f.name.endsWith('.json') && f.name !== 'model.json')
    ?? files.find((f) => f.name.endsWith('.json'));
  if (!manifestFile) throw new Error('choose the model manifest (.json) together with the files it lists');
  let manifest;
  try {
    manifest = JSON.parse(await manifestFile.text());
  } catch (e) {
    throw new Error(`${manifestFile.name} is not JSON: ${e.message}`);
  }
  if (!Array.isArray(manifest.files) || !manifest.name) throw new Error(`${manifestFile.name} is not a model manifest (no "name" or "files")`);
  const bytes = await Promise.all(
    manifest.files.map(async ({ path }) => {
      const file = files.find((f) => f.name === path.split('/').pop());
      if (!file) throw new Error(`the manifest lists ${path}: choose it too`);
      return file.arrayBuffer();
    }),
  );
  models.set(manifest.name, { manifest, available: true, files: bytes });
  renderPicker(manifest.name);
}

/** A model's files: the ones the user chose (copied: each run transfers its own), or the catalog's. */
async function modelFiles(entry, manifest) {
  if (!entry.files) return catalogFiles(manifest);
  return manifest.files.map(({ path }) => entry.files[entry.manifest.files.findIndex((f) => f.path === path)].slice(0));
}

/**
 * Wires the panel. `getSource()` gives the open scan (one object per opened scan) or null;
 * `scanInput(source)` its {geometry, values} from the scan worker;
 * `onResult({labels, manifest, seconds, wasmBytes})` receives the label map.
 */
export function setupSegmentPanel({ getSource, scanInput, onResult, onError }) {
  setupBackendPicker();
  $('model-picker').addEventListener('change', describe);
  $('model-mode').addEventListener('change', estimate);
  $('open-model').addEventListener('change', async (e) => {
    try {
      await loadOwnModel(e.target.files);
    } catch (err) {
      onError(`Could not load the model: ${err.message}`);
    }
    e.target.value = '';
  });
  $('cancel-model').addEventListener('click', () => finish('Cancelled.'));
  $('run-model').addEventListener('click', async () => {
    const entry = models.get($('model-picker').value);
    const source = getSource();
    if (!entry || !source || running) return;
    if (!entry.available) return onError(`${entry.manifest.title} is not on this site: run \`medseg models fetch ${entry.manifest.name}\` and reload.`);
    $('model-result').textContent = '';
    $('run-model').disabled = true;
    $('cancel-model').hidden = false;
    $('model-progress').hidden = false;
    setProgress('fetching the model', 0);
    const run = {
      cancel() {
        this.cancelled = true;
        this.model?.cancel();
      },
    };
    running = run;
    let data;
    try {
      const manifest = manifestForMode(entry.manifest, $('model-mode').value);
      const files = await modelFiles(entry, manifest);
      const input = await scanInput(source);
      if (run.cancelled) return;
      run.model = runModel({ manifest, files, input, backend: chosenBackend(), threads: chosenThreads() }, setProgress);
      data = await run.model.result;
      const runs = scanInfo && networkRuns(manifest, scanInfo.dims, scanInfo.spacing_mm);
      const modelSeconds = data.stages.find(([stage]) => stage === 'running the model')?.[1];
      if (runs && modelSeconds) rememberSecondsPerRun(entry.manifest.name, modelSeconds / runs);
      estimate();
    } catch (e) {
      if (run.cancelled) return;
      finish('');
      return onError(`${run.model ? `${entry.manifest.title} failed` : `Could not run ${entry.manifest.title}`}: ${e.message}`);
    }
    document.body.dataset.stageSeconds = JSON.stringify(data.stages); // benchmarks read it
    finish([`${entry.manifest.title}: done in ${data.seconds.toFixed(1)} s · wasm memory ${(data.wasmBytes / 2 ** 20).toFixed(0)} MB`,
      ...backendLines(data)].join('\n'));
    // The labels belong to the scan the run started on, not to one opened since.
    if (getSource() !== source) return onError('Another scan was opened while the model ran: run it again on this scan.');
    onResult({ labels: data.labels, manifest: entry.manifest, seconds: data.seconds, wasmBytes: data.wasmBytes });
  });
}

function setProgress(stage, fraction) {
  $('model-progress').querySelector('progress').value = fraction;
  $('model-stage').textContent = `${stage} ${Math.round(fraction * 100)} %`;
}

function finish(message) {
  running?.cancel();
  running = null;
  $('run-model').disabled = false;
  $('cancel-model').hidden = true;
  $('model-progress').hidden = true;
  $('model-result').textContent = message;
}
