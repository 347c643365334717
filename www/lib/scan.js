// The open scan, as the page and <medseg-viewer> see it: one worker (workers/scan.js) decodes it
// once and owns it; models (workers/segment.js, one disposable worker per run) and MedSAM
// (workers/medsam.js) receive its stored voxels and geometry, transferred, never the file's bytes.
import { WorkerClient, runOnce } from './rpc.js';

/** The scan worker: open, volume, overlay, counts, save, modelInput (see workers/scan.js). */
export class ScanWorker extends WorkerClient {
  constructor(options = {}) {
    super(new URL('../workers/scan.js', import.meta.url), options);
  }

  /** Opens [{name, bytes}] (the bytes are transferred); resolves {scanId, info, data, auto, decodeMs, wasmBytes}. */
  open(files) {
    return this.call('open', { files }, files.map((f) => f.bytes));
  }

  /**
   * What models run on: {geometry (JSON), values (Uint8Array: volume 0's stored voxels)} of scan `scanId`,
   * transferred to this thread and ready to transfer on; rejects when another scan was opened since.
   */
  modelInput(scanId) {
    return this.call('modelInput', { scanId });
  }
}

/**
 * Runs a model ({manifest, files: [ArrayBuffer]}) on `input` (from `modelInput`) in a fresh worker on
 * `backend`; the files and the volume are transferred. `onProgress(stage, fraction)`.
 * Returns {result: Promise<{labels, seconds, wasmBytes, backend, notes, gpuBytes}>, cancel()}.
 */
export function runModel({ manifest, files, input, backend = 'auto' }, onProgress) {
  return runOnce(new URL('../workers/segment.js', import.meta.url), 'segment',
    { geometry: input.geometry, values: input.values, manifest, files, backend },
    [...files, input.values.buffer],
    ({ stage, fraction }) => onProgress?.(stage, fraction),
    'the segmentation worker');
}
