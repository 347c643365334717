// The Box (MedSAM) tool: drag a box on any view and LiteMedSAM (workers/medsam.js) segments the
// object on that slice; more boxes on the same slice reuse its cached embedding (decoder only).
// Each object gets its own label value, name and colour; Accept keeps it and starts the next,
// Undo removes the last. "Propagate through the volume" walks the box outwards slice by slice.
// The networks run on the backend chosen in the Segment panel (backend.js).
import { defaultColour, hex, rgbOf } from './lib/palette.js';
import { WorkerClient } from './lib/rpc.js';
import { fetchModelFile } from './lib/catalog.js';
import { backendLines, chosenBackend, chosenThreads } from './backend.js';

const $ = (id) => document.getElementById(id);

/**
 * `getScan()` → {source, info} of the open scan (source: one object per opened scan, with the
 * `picture` of a 2D picture); `scanInput(source)` → its {geometry, values} from the scan worker;
 * `getValues()` → the overlay's label values or null; `getWindow()` → {lo, hi, percentiles};
 * `showValues(values, objects, removed)` draws them.
 */
export function setupBoxTool({ viewer, getScan, scanInput, getValues, getWindow, showValues, onError }) {
  let worker = null; // a WorkerClient of workers/medsam.js
  let loadedSource = null;
  let loadedBackend = null; // the backend the worker's session runs on
  let workerThreads = 0; // the threads the worker was started with (its build is chosen once)
  const objects = []; // {value, name, rgb, snapshot, accepted}
  let last = null; // the last box: {axis, index, box, lo, hi, percentiles}
  let busy = false;
  let crashed = null; // why the last MedSAM worker stopped, until a new one starts

  function ask(type, args = {}, transfer = [], progress = null) {
    if (!worker) return Promise.reject(new Error(`the MedSAM worker stopped (${crashed ?? 'unknown error'}); draw the box again to restart it`));
    return worker.call(type, args, transfer, progress && (({ done, most }) => progress(done, most)));
  }

  /** A worker holding the model and the open scan, on the chosen backend and threads. */
  async function ready(source) {
    const backend = chosenBackend();
    const threads = chosenThreads();
    if (worker && workerThreads !== threads) {
      // A worker's build and pool are chosen when it starts: other threads take a new worker.
      worker.terminate();
      worker = null;
    }
    if (worker && loadedSource === source) {
      if (loadedBackend === backend) return;
      $('medsam-result').textContent = 'choosing the backend…';
      loadedBackend = null;
      await ask('backend', { backend });
      loadedBackend = backend;
      return;
    }
    if (!worker) {
      worker = new WorkerClient(new URL('./workers/medsam.js', import.meta.url), {
        name: 'the MedSAM worker',
        onCrash: (message) => {
          worker = null;
          crashed = message;
        },
      });
      workerThreads = threads;
    }
    loadedSource = null;
    loadedBackend = null;
    $('medsam-result').textContent = 'loading MedSAM…';
    const manifest = JSON.parse(new TextDecoder().decode(await fetchModelFile('litemedsam/medsam.json')));
    const [encoder, decoder] = await Promise.all([manifest.encoder, manifest.decoder].map((f) => fetchModelFile(`litemedsam/${f.path}`)));
    // A 2D picture goes as its RGBA pixels (encodePicture); a scan as the scan worker's float volume.
    const { picture } = source;
    const scan = picture
      ? { picture: { rgba: picture.rgba.slice(0), width: picture.width, height: picture.height } }
      : { input: await scanInput(source) };
    const transfer = picture ? [scan.picture.rgba.buffer] : [scan.input.values.buffer];
    try {
      await ask('load', { ...scan, manifest, encoder, decoder, backend, threads }, [encoder, decoder, ...transfer]);
    } catch (e) {
      // The memory a failed load grew stays with its worker: end it, the next box starts a fresh one.
      worker?.terminate();
      worker = null;
      throw e;
    }
    loadedSource = source;
    loadedBackend = backend;
  }

  /** The object new masks go to: the current one, or a new one after Accept. */
  function currentObject(info) {
    const open = objects.at(-1);
    if (open && !open.accepted) return open;
    const values = getValues() ?? new Uint16Array(info.dims.slice(0, 3).reduce((a, b) => a * b, 1));
    let top = 0;
    for (let i = 0; i < values.length; i++) if (values[i] > top) top = values[i];
    const value = Math.max(top, ...objects.map((o) => o.value)) + 1;
    const object = {
      value,
      name: $('object-name').value.trim() || `object ${value}`,
      rgb: rgbOf($('object-colour').value),
      snapshot: values.slice(),
      values,
      accepted: false,
    };
    objects.push(object);
    return object;
  }

  function strides(dims) {
    return [1, dims[0], dims[0] * dims[1]];
  }

  /** Writes a rows × cols slice mask into the object's values (earlier masks on that slice go). */
  function writeSlice(object, dims, axis, index, mask) {
    const [a, b] = [0, 1, 2].filter((x) => x !== axis);
    const s = strides(dims);
    const { values, snapshot, value } = object;
    let m = 0;
    for (let r = 0; r < dims[a]; r++) {
      const base = index * s[axis] + r * s[a];
      for (let c = 0; c < dims[b]; c++, m++) {
        const i = base + c * s[b];
        values[i] = mask[m] ? value : snapshot[i];
      }
    }
  }

  function show() {
    const object = objects.at(-1);
    showValues(object ? object.values : getValues(), objects, removed);
    $('accept-object').disabled = !object || object.accepted;
    $('undo-object').disabled = !object;
    $('propagate').disabled = !last;
  }
  const removed = [];

  async function onBox(viewName, c0, c1) {
    const { source, info } = getScan();
    if (!source || busy) return;
    const axis = viewer.volume.grid.perm[viewer.views[viewName].spec.fixed];
    const [v0, v1] = [viewer.voxelOf(c0), viewer.voxelOf(c1)];
    const [a, b] = [0, 1, 2].filter((x) => x !== axis);
    // A picture's box is in picture pixels (x = column = voxel i, y = row = j); a scan slice's
    // columns run along its second in-plane axis.
    const [x, y] = source.picture ? [a, b] : [b, a];
    if (source.picture && axis !== 2) return;
    const box = [Math.min(v0[x], v1[x]), Math.min(v0[y], v1[y]), Math.max(v0[x], v1[x]), Math.max(v0[y], v1[y])];
    await segmentBox({ axis, index: v0[axis], box, source, info });
  }

  async function segmentBox({ axis, index, box, source, info }) {
    busy = true;
    const started = performance.now();
    try {
      await ready(source);
      const { lo, hi, percentiles } = getWindow();
      const dims = info.dims.slice(0, 3);
      $('medsam-result').textContent = 'segmenting…';
      const count = $('medsam-prefetch').checked ? dims[axis] : 0; // 0: no encoding ahead
      const reply = await ask('segment', { axis, index, lo, hi, percentiles, box, count: source.picture ? 0 : count });
      if (getScan().source !== source) return;
      const object = currentObject(info);
      if (source.picture) {
        // Row by row with x fastest: the one-slice label volume's own order.
        const { values, snapshot, value } = object;
        for (let i = 0; i < values.length; i++) values[i] = reply.mask[i] ? value : snapshot[i];
      } else {
        writeSlice(object, dims, axis, index, reply.mask);
      }
      last = source.picture ? null : { axis, index, box, lo, hi, percentiles, dims };
      if (!$('propagate-first').dataset.axis || Number($('propagate-first').dataset.axis) !== axis) {
        Object.assign($('propagate-first'), { value: 0, max: dims[axis] - 1 });
        Object.assign($('propagate-last'), { value: dims[axis] - 1, max: dims[axis] - 1 });
        $('propagate-first').dataset.axis = axis;
      }
      show();
      const total = performance.now() - started;
      const what = reply.encoded ? 'decoder only' : 'encoder + decoder';
      const where = source.picture ? 'the picture' : `slice ${index} of axis ${axis}`;
      $('medsam-result').textContent = [`${object.name}: ${where} in ${reply.ms.toFixed(0)} ms (${what}; ${total.toFixed(0)} ms box → overlay)`,
        ...backendLines(reply)].join('\n');
      const body = document.body.dataset;
      body.medsamMs = reply.ms.toFixed(1);
      body.medsamTotalMs = total.toFixed(1);
      body.medsamEncoded = reply.encoded ? '1' : '0';
      body.medsamWasmMB = (reply.wasmBytes / 2 ** 20).toFixed(0); // the worker's wasm memory (benchmarks)
      body.medsamBoxes = String(Number(body.medsamBoxes ?? 0) + 1);
    } catch (e) {
      $('medsam-result').textContent = '';
      onError(`MedSAM failed: ${e.message}`);
    } finally {
      busy = false;
    }
  }

  async function propagate() {
    if (!last || busy) return;
    const { source, info } = getScan();
    if (loadedSource !== source) return onError('Draw the box again on this scan first.');
    const { axis, index, box, lo, hi, percentiles, dims } = last;
    const clamp = (v) => Math.max(0, Math.min(dims[axis] - 1, Math.round(Number(v))));
    const first = Math.min(clamp($('propagate-first').value), index);
    const lastSlice = Math.max(clamp($('propagate-last').value), index);
    busy = true;
    $('propagate').disabled = true;
    $('cancel-propagate').hidden = false;
    $('propagate-progress').hidden = false;
    const progress = (done, most) => {
      $('propagate-progress').querySelector('progress').value = most ? done / most : 0;
      $('propagate-stage').textContent = `${done} of ${most} slices`;
    };
    progress(0, lastSlice - first + 1);
    try {
      const reply = await ask('propagate', { axis, index, lo, hi, percentiles, box, first, last: lastSlice }, [], progress);
      const object = currentObject(info);
      const { values, snapshot, value } = object;
      for (let i = 0; i < values.length; i++) values[i] = reply.mask[i] ? value : snapshot[i];
      show();
      const atATime = reply.inFlight > 1 ? `, ${reply.inFlight} slices at a time` : '';
      $('medsam-result').textContent = [`${object.name}: slices ${first}–${lastSlice} in ${(reply.ms / 1000).toFixed(1)} s${atATime}`,
        ...backendLines(reply)].join('\n');
      document.body.dataset.medsamPropagated = String(lastSlice - first + 1);
    } catch (e) {
      if (!/cancelled/.test(e.message)) onError(`MedSAM propagation failed: ${e.message}`);
    } finally {
      busy = false;
      $('propagate').disabled = false;
      $('cancel-propagate').hidden = true;
      $('propagate-progress').hidden = true;
    }
  }

  function cancel() {
    // The wasm call cannot be interrupted from outside: stop the worker (its embeddings go too).
    worker?.terminate('cancelled');
    worker = null;
    loadedSource = null;
    $('medsam-result').textContent = 'Cancelled.';
  }

  function nextObjectFields() {
    const n = Math.max(0, ...objects.map((o) => o.value)) + 1;
    $('object-name').value = `object ${n}`;
    $('object-colour').value = hex(defaultColour(n));
  }

  $('box-tool').addEventListener('change', (e) => viewer.setBoxTool(e.target.checked));
  $('accept-object').addEventListener('click', () => {
    const object = objects.at(-1);
    if (!object) return;
    object.accepted = true;
    nextObjectFields();
    viewer.setBoxTool(viewer.boxTool); // drops the drawn box
    show();
  });
  $('undo-object').addEventListener('click', () => {
    const object = objects.pop();
    if (!object) return;
    object.values.set(object.snapshot);
    removed.push(object.value);
    showValues(object.values, objects, removed);
    last = null;
    nextObjectFields();
    show();
  });
  for (const id of ['object-name', 'object-colour']) {
    $(id).addEventListener('change', () => {
      const object = objects.at(-1);
      if (!object || object.accepted) return;
      object.name = $('object-name').value.trim() || object.name;
      object.rgb = rgbOf($('object-colour').value);
      show();
    });
  }
  $('propagate').addEventListener('click', propagate);
  $('cancel-propagate').addEventListener('click', cancel);
  nextObjectFields();

  return {
    onBox,
    /** Whether MedSAM is loading, segmenting or propagating. */
    busy: () => busy,
    /** Forgets objects of a scan that is no longer open. */
    reset() {
      objects.length = 0;
      removed.length = 0;
      last = null;
      nextObjectFields();
      $('accept-object').disabled = true;
      $('undo-object').disabled = true;
      $('propagate').disabled = true;
    },
    /** For tests and scripts: the box [x0, y0, x1, y1] (voxel columns, rows) on slice `index` across `axis`. */
    segmentBox: (axis, index, box) => segmentBox({ axis, index, box, ...getScan() }),
  };
}
