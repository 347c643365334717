// Talking to the workers and handling scan files, shared by the page (app.js) and the embeddable
// element (medseg.js): the decoding worker (worker.js), one disposable segmentation worker per run
// (segment-worker.js), and the copy of a scan's bytes that models run on.

/** The decoding worker: `call(type, args, transfer)` resolves with its reply or rejects with its error. */
export class ScanWorker {
  constructor() {
    this.worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    this.nextId = 1;
    this.pending = new Map();
    this.worker.onmessage = ({ data }) => {
      const { resolve, reject } = this.pending.get(data.id);
      this.pending.delete(data.id);
      if (data.ok) resolve(data);
      else reject(new Error(data.error));
    };
    this.worker.onerror = (e) => {
      for (const { reject } of this.pending.values()) reject(new Error(`the worker failed: ${e.message || 'unknown error'}`));
      this.pending.clear();
    };
  }

  call(type, args = {}, transfer = []) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, type, ...args }, transfer);
    });
  }

  terminate() {
    this.worker.terminate();
  }
}

/** The model catalog beside this file (models/catalog.json), read once per page. */
let catalog = null;
export function loadCatalog() {
  catalog ??= fetch(new URL('./models/catalog.json', import.meta.url)).then(async (r) => {
    if (!r.ok) throw new Error(`models/catalog.json: the server answered ${r.status}`);
    return (await r.json()).models;
  });
  return catalog;
}

/** The files of a catalog model, fetched from models/NAME/. */
export async function modelFiles(manifest) {
  return Promise.all(manifest.files.map(async ({ path }) => {
    const response = await fetch(new URL(`./models/${manifest.name}/${path}`, import.meta.url));
    if (!response.ok) throw new Error(`models/${manifest.name}/${path}: the server answered ${response.status} (run \`medseg models fetch ${manifest.name}\`)`);
    return response.arrayBuffer();
  }));
}

/**
 * Runs a model on a scan's bytes ({bytes} or {pair: [hdr, img]}) in a fresh worker.
 * Returns {result: Promise<{labels, seconds, wasmBytes}>, cancel()}.
 */
export function runModel(manifest, files, scan, onProgress) {
  const worker = new Worker(new URL('./segment-worker.js', import.meta.url), { type: 'module' });
  let settle;
  const result = new Promise((resolve, reject) => {
    settle = { resolve, reject };
    worker.onmessage = ({ data }) => {
      if (data.type === 'progress') onProgress?.(data.stage, data.fraction);
      if (data.type === 'error') reject(new Error(data.message));
      if (data.type === 'done') resolve(data);
    };
    worker.onerror = (e) => reject(new Error(e.message || 'the worker stopped (out of memory?)'));
  }).finally(() => worker.terminate());
  const copy = scan.pair ? { pair: scan.pair.map((b) => b.slice(0)) } : { bytes: scan.bytes.slice(0) };
  worker.postMessage({ scan: copy, manifest, files }, [...files, ...(copy.pair ?? [copy.bytes])]);
  return { result, cancel: () => settle.reject(new Error('cancelled')) };
}

/** {bytes} or {pair: [hdr, img]}: a copy of the scan's original bytes, kept for running models. */
export function sourceOf(read) {
  const find = (re) => read.find((f) => re.test(f.name.toLowerCase()));
  const hdr = find(/\.hdr(\.gz)?$/);
  const img = find(/\.img(\.gz)?$/);
  if (hdr && img) return { pair: [hdr.bytes.slice(0), img.bytes.slice(0)] };
  return { bytes: (find(/\.nii(\.gz)?$/) ?? read[0]).bytes.slice(0) };
}
