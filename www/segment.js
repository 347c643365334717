// The Segment panel: the model catalog, bring-your-own models, and running a model on the open
// scan in a disposable worker (lib/scan.js runModel) on the chosen backend, with progress and Cancel.
import { backendLines, chosenBackend, chosenThreads, setupBackendPicker } from './backend.js';
import { isAvailable, loadCatalog as readCatalog, modelFiles as catalogFiles } from './lib/catalog.js';
import { runModel } from './lib/scan.js';

const $ = (id) => document.getElementById(id);

/** Models offered: catalog entries plus models the user loaded, by name. */
const models = new Map();
let running = null;

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
async function modelFiles(entry) {
  return entry.files ? entry.files.map((b) => b.slice(0)) : catalogFiles(entry.manifest);
}

/**
 * Wires the panel. `getSource()` gives the open scan (one object per opened scan) or null;
 * `scanInput(source)` its {geometry, values} from the scan worker;
 * `onResult({labels, manifest, seconds, wasmBytes})` receives the label map.
 */
export function setupSegmentPanel({ getSource, scanInput, onResult, onError }) {
  setupBackendPicker();
  $('model-picker').addEventListener('change', describe);
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
      const files = await modelFiles(entry);
      const input = await scanInput(source);
      if (run.cancelled) return;
      run.model = runModel({ manifest: entry.manifest, files, input, backend: chosenBackend(), threads: chosenThreads() }, setProgress);
      data = await run.model.result;
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
