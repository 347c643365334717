// The Web Worker that hosts the wasm core: all decoding, statistics and encoding happen here,
// so the page never freezes. Messages in: {id, type, ...}; out: {id, ok, ...} or {id, ok:false, error}.
import init, { Scan, labelCounts } from './pkg/medseg.js';

const ready = init();
let scan = null; // the Scan currently shown (kept when opening another file fails)

/** Splits dropped files into one scan: a single .nii/.nii.gz, or a .hdr + .img pair. */
function pickScanFiles(files) {
  const lower = (f) => f.name.toLowerCase();
  const hdr = files.find((f) => /\.hdr(\.gz)?$/.test(lower(f)));
  if (hdr) {
    const stem = lower(hdr).replace(/\.hdr(\.gz)?$/, '');
    const img = files.find((f) => lower(f).replace(/\.img(\.gz)?$/, '') === stem && /\.img(\.gz)?$/.test(lower(f)));
    if (!img) throw new Error(`${hdr.name} is the header of a .hdr/.img pair: drop it together with its .img file`);
    return { hdr, img };
  }
  const img = files.find((f) => /\.img(\.gz)?$/.test(lower(f)));
  const nii = files.find((f) => /\.nii(\.gz)?$/.test(lower(f))) || (img ? null : files[0]);
  if (!nii) throw new Error(`${img.name} is the image of a .hdr/.img pair: drop it together with its .hdr file`);
  return { nii };
}

function decode(files) {
  const picked = pickScanFiles(files);
  if (picked.hdr) return Scan.fromPair(new Uint8Array(picked.hdr.bytes), new Uint8Array(picked.img.bytes));
  return Scan.fromBytes(new Uint8Array(picked.nii.bytes));
}

const handlers = {
  async open({ files }) {
    const t0 = performance.now();
    const next = decode(files);
    const decodeMs = performance.now() - t0;
    const info = JSON.parse(next.infoJson());
    const data = next.volumeF32(0);
    const [lo, hi] = next.quantiles(0, [0.005, 0.995]);
    if (scan) scan.free();
    scan = next;
    return {
      reply: { info, data, auto: lo === undefined ? null : [lo, hi], decodeMs, wasmBytes: wasmMemoryBytes() },
      transfer: [data.buffer],
    };
  },
  async volume({ index }) {
    const data = requireScan().volumeF32(index);
    return { reply: { index, data }, transfer: [data.buffer] };
  },
  async overlay({ files }) {
    const shape = JSON.parse(requireScan().infoJson()).dims.slice(0, 3);
    const json = files.find((f) => f.name.toLowerCase().endsWith('.json'));
    const images = files.filter((f) => f !== json);
    if (images.length === 0) throw new Error('no label map among the files: expected a .nii or .nii.gz (and optionally its .json)');
    const labels = decode(images);
    try {
      const dims = JSON.parse(labels.infoJson()).dims;
      if (dims.slice(0, 3).join() !== shape.join()) {
        throw new Error(`the label map's grid ${dims.join('×')} does not match the scan's ${shape.join('×')}`);
      }
      const values = labels.labelValues(0);
      const table = json ? parseLabelJson(new TextDecoder().decode(json.bytes), json.name) : null;
      return { reply: { values, counts: countsOf(values), table }, transfer: [values.buffer] };
    } finally {
      labels.free();
    }
  },
  async counts({ values }) {
    return { reply: { counts: countsOf(values) } };
  },
  async save({ values }) {
    const bytes = requireScan().labelsToNiiGz(values);
    return { reply: { bytes }, transfer: [bytes.buffer] };
  },
};

function requireScan() {
  if (!scan) throw new Error('open a scan first');
  return scan;
}

function countsOf(values) {
  const flat = labelCounts(values);
  const counts = [];
  for (let i = 0; i < flat.length; i += 2) counts.push([flat[i], flat[i + 1]]);
  return counts;
}

function parseLabelJson(text, name) {
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`${name} is not valid JSON: ${e.message}`);
  }
  if (!parsed || !Array.isArray(parsed.labels)) throw new Error(`${name}: expected {"labels": [{"value", "name", "rgb"}, …]}`);
  return parsed.labels.map((l, i) => {
    if (!Number.isInteger(l.value) || typeof l.name !== 'string') {
      throw new Error(`${name}: labels[${i}] needs an integer "value" and a string "name"`);
    }
    const rgb = Array.isArray(l.rgb) && l.rgb.length === 3 ? l.rgb.map((c) => Math.max(0, Math.min(255, c | 0))) : null;
    return { value: l.value, name: l.name, rgb };
  });
}

function wasmMemoryBytes() {
  return self.wasmMemory ? self.wasmMemory.buffer.byteLength : null;
}

self.onmessage = async (event) => {
  const { id, type, ...args } = event.data;
  try {
    const wasm = await ready;
    self.wasmMemory = wasm.memory;
    const { reply, transfer = [] } = await handlers[type](args);
    self.postMessage({ id, ok: true, ...reply }, transfer);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    self.postMessage({ id, ok: false, error: message });
  }
};
