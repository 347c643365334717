// The worker that owns the open scan: it decodes the file once (the one rule of lib/files.js picks
// it among dropped files) and serves statistics, encoding, and the stored voxels models and MedSAM
// run on, so the page never freezes and no other worker decodes. Requests: see lib/rpc.js.
import init, { DicomStudy, Scan, labelCounts } from '../pkg/medseg.js';
import { isDicomSet, pickScanFiles } from '../lib/files.js';
import { isZip, unzip } from '../lib/zip.js';
import { LABEL_VALUES } from '../lib/display.js';
import { serve } from '../lib/serve.js';

const ready = init();
let scan = null; // the Scan this worker opened (each worker opens one: a failed open ends the worker, lib/scan.js)

function decode(files) {
  const picked = pickScanFiles(files);
  if (picked.hdr) return Scan.fromPair(new Uint8Array(picked.hdr.bytes), new Uint8Array(picked.img.bytes));
  if (picked.nhdr) return Scan.fromNrrdDetached(new Uint8Array(picked.nhdr.bytes), new Uint8Array(picked.data.bytes));
  return Scan.fromBytes(new Uint8Array(picked.single.bytes));
}

const handlers = {
  /**
   * Decodes the scan among `files` (a .zip is unpacked first): one file or pair, or the DICOM series
   * of a folder. Several series and no `series` chosen: replies {chooseSeries: [...]} and opens nothing.
   */
  async open({ files, series }, progress) {
    const t0 = performance.now();
    const unpacked = await unpackZips(files);
    if (isDicomSet(unpacked)) {
      const study = new DicomStudy();
      try {
        unpacked.forEach((f, i) => {
          study.add(f.name, new Uint8Array(f.bytes));
          f.bytes = null; // copied into wasm memory: let the buffer go
          if (i % 16 === 15 || i === unpacked.length - 1) progress({ done: i + 1, most: unpacked.length, stage: 'reading the DICOM files' });
        });
        const list = JSON.parse(study.seriesJson());
        if (list.length > 1 && (series === undefined || series === null)) {
          return { reply: { chooseSeries: list, skipped: study.skipped() } };
        }
        progress({ done: 0, most: 1, stage: 'decoding the series' });
        scan = study.read(series ?? 0);
      } finally {
        study.free();
      }
    } else {
      scan = decode(unpacked);
    }
    const decodeMs = performance.now() - t0;
    const info = JSON.parse(scan.infoJson());
    const data = scan.volumeF32(0);
    const [lo, hi] = scan.quantiles(0, [0.005, 0.995]);
    return {
      reply: { info, data, auto: lo === undefined ? null : [lo, hi], decodeMs, ownFormat: scan.ownFormatExtension() ?? null },
      transfer: [data.buffer],
    };
  },
  /** Volume 0's stored voxels and the geometry to rebuild it (Scan.fromVoxels), for a model or MedSAM. */
  async modelInput() {
    const values = requireScan().modelVoxels();
    return { reply: { geometry: requireScan().geometryJson(), values }, transfer: [values.buffer] };
  },
  /** The scan's geometry (Scan.geometryJson) without its voxels: what the mesh worker needs. */
  async geometry() {
    return { reply: { geometry: requireScan().geometryJson() } };
  },
  async volume({ index }) {
    const data = requireScan().volumeF32(index);
    return { reply: { index, data }, transfer: [data.buffer] };
  },
  /** A label map on the scan's grid (dims checked) with its optional JSON table: the overlay. */
  async overlay({ files }) {
    return readLabelMap(files, (labels) => {
      const shape = JSON.parse(requireScan().infoJson()).dims.slice(0, 3);
      const dims = JSON.parse(labels.infoJson()).dims;
      if (dims.slice(0, 3).join() !== shape.join()) {
        throw new Error(`the label map's grid ${dims.join('×')} does not match the scan's ${shape.join('×')}`);
      }
    });
  },
  /** A reference label map to compare with: on the scan's grid, affine included (as `medseg eval`). */
  async reference({ files }) {
    return readLabelMap(files, (labels) => requireScan().checkSameGrid(labels));
  },
  /** Dice, HD95 and volumes per label of `mine` against `reference` (Scan.compareLabels). */
  async compare({ mine, reference }) {
    return { reply: JSON.parse(requireScan().compareLabels(mine, reference)) };
  },
  async counts({ values }) {
    return { reply: { counts: countsOf(values) } };
  },
  /** The labels as .nii.gz, or (`table` given) in the scan's own format (Scan.labelsToOwnFormat). */
  async save({ values, table }) {
    const bytes = table ? requireScan().labelsToOwnFormat(values, JSON.stringify(table)) : requireScan().labelsToNiiGz(values);
    return { reply: { bytes }, transfer: [bytes.buffer] };
  },
};

/** `files` with every .zip among them replaced by the files inside it. */
async function unpackZips(files) {
  const out = [];
  for (const f of files) {
    if (f.bytes.byteLength >= 4 && isZip(f.bytes)) out.push(...(await unzip(f.bytes)));
    else out.push(f);
  }
  return out;
}

/** Decodes a label map among `files` (and its .json table), checked by `check(labels)`. */
function readLabelMap(files, check) {
  const json = files.find((f) => f.name.toLowerCase().endsWith('.json'));
  const images = files.filter((f) => f !== json);
  if (images.length === 0) throw new Error('no label map among the files: expected a .nii or .nii.gz (and optionally its .json)');
  const labels = decode(images);
  try {
    check(labels);
    const values = labels.labelValues(0);
    const table = json ? parseLabelJson(new TextDecoder().decode(json.bytes), json.name) : null;
    return { reply: { values, counts: countsOf(values), table }, transfer: [values.buffer] };
  } finally {
    labels.free();
  }
}

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
    if (l.value < 0 || l.value >= LABEL_VALUES) {
      throw new Error(`${name}: labels[${i}] has the value ${l.value}, but label values run from 0 to ${LABEL_VALUES - 1}`);
    }
    const rgb = Array.isArray(l.rgb) && l.rgb.length === 3 ? l.rgb.map((c) => Math.max(0, Math.min(255, c | 0))) : null;
    return { value: l.value, name: l.name, rgb };
  });
}

serve(handlers, { ready });
