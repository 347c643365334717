// The open scan, as the page and <medseg-viewer> see it: one worker (workers/scan.js) decodes it
// once and owns it; models (workers/segment.js, one disposable worker per run) and MedSAM
// (workers/medsam.js) receive its stored voxels and geometry, transferred, never the file's bytes.
import { WorkerClient, runOnce } from './rpc.js';
import { defaultThreads } from './wasm.js';

/**
 * The scan worker: `open`, then `call` volume, overlay, counts, save and `modelInput` on the open
 * scan (see workers/scan.js). Each open decodes in a fresh worker that replaces the previous one
 * only when the scan opened: a worker whose open failed (a corrupt or huge file) is terminated, so
 * the memory it grew is returned, and the scan open before stays usable. Opens run one at a time,
 * in the order asked, so the scan asked for last is the one that stays.
 */
export class ScanWorker {
  /** `onCrash(message)`: the worker holding the open scan stopped (a script error, out of memory). */
  constructor({ onCrash = null } = {}) {
    this.onCrash = onCrash;
    this.client = null; // the WorkerClient holding the open scan
    this.scanId = 0; // counts successful opens: models ask for the scan they were started on
    this.opening = Promise.resolve();
  }

  /**
   * Opens [{name, bytes}] (the bytes are transferred; `series` picks among a DICOM folder's series,
   * `progress({done, most, stage})` hears how the reading goes); resolves {scanId, info, data, auto,
   * decodeMs, wasmBytes, ownFormat}, or {chooseSeries: [...]} when the files hold several series.
   */
  open(files, { series, progress } = {}) {
    const done = this.opening.then(() => this.openInFreshWorker(files, series, progress));
    this.opening = done.catch(() => {});
    return done;
  }

  async openInFreshWorker(files, series, progress) {
    const client = new WorkerClient(new URL('../workers/scan.js', import.meta.url), {
      name: 'the scan worker',
      onCrash: (message) => this.client === client && this.onCrash?.(message),
    });
    let reply;
    try {
      reply = await client.call('open', { files, series }, files.map((f) => f.bytes), progress);
    } catch (e) {
      client.terminate();
      throw e;
    }
    if (reply.chooseSeries) {
      // Nothing opened yet: the scan shown stays, and the caller asks which series to open.
      client.terminate();
      return reply;
    }
    this.client?.terminate('another scan was opened');
    this.client = client;
    this.scanId += 1;
    return { ...reply, scanId: this.scanId };
  }

  /** A request to the worker holding the open scan (see WorkerClient.call). */
  call(...request) {
    if (!this.client) return Promise.reject(new Error('open a scan first'));
    return this.client.call(...request);
  }

  /**
   * What models run on: {geometry (JSON), values (Uint8Array: volume 0's stored voxels)} of scan `scanId`,
   * transferred to this thread and ready to transfer on; rejects when another scan was opened since.
   */
  modelInput(scanId) {
    if (scanId !== this.scanId) return Promise.reject(new Error('another scan was opened: run it again on this scan'));
    return this.call('modelInput');
  }

  /** Stops the worker holding the open scan; its pending calls reject. */
  terminate() {
    this.client?.terminate();
    this.client = null;
  }
}

/**
 * Runs a model ({manifest, files: [ArrayBuffer]}) on `input` (from `modelInput`) in a fresh worker on
 * `backend` with `threads` (lib/wasm.js); the files and the volume are transferred.
 * `onProgress(stage, fraction)`. Returns {result: Promise<{labels, seconds, wasmBytes, backend, notes,
 * gpuBytes, build, threads}>, cancel()}.
 */
export function runModel({ manifest, files, input, backend = 'auto', threads = defaultThreads() }, onProgress) {
  return runOnce(new URL('../workers/segment.js', import.meta.url), 'segment',
    { geometry: input.geometry, values: input.values, manifest, files, backend, threads },
    [...files, input.values.buffer],
    ({ stage, fraction }) => onProgress?.(stage, fraction),
    'the segmentation worker');
}
