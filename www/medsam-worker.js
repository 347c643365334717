// A Web Worker holding one MedSAM session (LiteMedSAM in wasm) and the open scan: slice
// embeddings stay cached here, so each new box on an encoded slice costs only the decoder.
// Cancel of a propagation terminates it (the page starts a fresh one on the next box).
// In: {type: 'load', scan: {bytes} | {pair} | {picture: {rgba, width, height}}, manifest, encoder, decoder, backend}
//     {type: 'backend', id, backend}   ('auto' | 'gpu' | 'cpu'; the cached embeddings stay)
//     {type: 'segment', id, axis, index, lo, hi, percentiles, box}
//     {type: 'propagate', id, axis, index, lo, hi, percentiles, box, first, last}
// Out: {id, ok: true, …} or {id, ok: false, error}; {type: 'progress', done, most} while propagating.
// Replies to load and backend carry {backend} (which backend and why); replies to segment and
// propagate carry {backend, notes, gpuBytes} (what happened on the GPU, its peak memory).
import init, { MedSamSession, Scan } from './pkg/medseg.js';

let session = null;
let scan = null;
let picture = null; // a 2D picture instead of a scan: {rgba, width, height, encoded}
let prefetch = null; // the idle-time encoding of neighbouring slices
let timer = null;

// One call into the session at a time: the calls that run a network return Promises (a GPU reads
// back asynchronously), and a call made while another is pending would find the session in use.
let queue = Promise.resolve();
function serially(work) {
  const done = queue.then(work);
  queue = done.catch(() => {});
  return done;
}

function scheduleNeighbours({ axis, index, lo, hi, percentiles }, count) {
  // Encode the slices next to the last box once the worker has been idle a moment.
  const list = [1, -1, 2, -2].map((d) => index + d).filter((i) => i >= 0 && i < count);
  prefetch = list;
  const step = async () => {
    const next = list.shift();
    if (prefetch !== list || next === undefined) return;
    try {
      await serially(async () => {
        if (prefetch === list && !session.isEncoded(axis, next, lo, hi, percentiles)) {
          await session.encode(scan, axis, next, lo, hi, percentiles);
        }
      });
    } catch {
      return; // prefetching is only a help
    }
    if (prefetch === list) timer = setTimeout(step, 50);
  };
  timer = setTimeout(step, 1500);
}

self.onmessage = async ({ data }) => {
  clearTimeout(timer);
  prefetch = null;
  const { id } = data;
  try {
    await init();
    await serially(() => handle(data));
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const gpu = /^the GPU backend/.test(message);
    const outOfMemory = !gpu && (/unreachable|out of memory|allocation/i.test(message) || e instanceof RangeError);
    const error = gpu
      ? `${message}: choose Auto or CPU under Backend`
      : outOfMemory ? 'the browser ran out of memory for MedSAM (WebAssembly can use at most 4 GB)' : message;
    self.postMessage({ id, ok: false, error });
  }
};

/** Which backend ran, what happened on it and its peak GPU memory, for a reply. */
function backendReport() {
  return { backend: session.backendDescription(), notes: session.backendNotes(), gpuBytes: session.gpuPeakBytes() };
}

/** Answers one request (a rejection is answered by the caller). */
async function handle(data) {
  const { id } = data;
  if (data.type === 'load') {
    session = null;
    const loaded = new MedSamSession(JSON.stringify(data.manifest), new Uint8Array(data.encoder), new Uint8Array(data.decoder));
    const backend = await loaded.useBackend(data.backend ?? 'auto');
    session = loaded;
    picture = data.scan.picture ? { ...data.scan.picture, rgba: new Uint8Array(data.scan.picture.rgba), encoded: false } : null;
    scan = picture ? null : data.scan.pair
      ? Scan.fromPair(new Uint8Array(data.scan.pair[0]), new Uint8Array(data.scan.pair[1]))
      : Scan.fromBytes(new Uint8Array(data.scan.bytes));
    self.postMessage({ id, ok: true, backend });
    return;
  }
  if (data.type === 'backend') {
    const backend = await session.useBackend(data.backend);
    self.postMessage({ id, ok: true, backend });
    return;
  }
  const { axis, index, lo, hi, percentiles } = data;
  const box = new Float32Array(data.box);
  session.resetGpuPeak();
  if (data.type === 'segment' && picture) {
    // The whole picture is one slice: encoded once (encodePicture), then decoder only.
    const encoded = picture.encoded;
    const started = performance.now();
    if (!encoded) {
      await session.encodePicture(picture.rgba, picture.width, picture.height);
      picture.encoded = true;
    }
    const mask = await session.segmentPicture(box);
    const ms = performance.now() - started;
    self.postMessage({ id, ok: true, mask, ms, encoded, ...backendReport() }, [mask.buffer]);
    return;
  }
  if (data.type === 'segment') {
    const encoded = session.isEncoded(axis, index, lo, hi, percentiles);
    const started = performance.now();
    const mask = await session.segment(scan, axis, index, lo, hi, percentiles, box);
    const ms = performance.now() - started;
    self.postMessage({ id, ok: true, mask, ms, encoded, ...backendReport() }, [mask.buffer]);
    if (data.count) scheduleNeighbours(data, data.count);
    return;
  }
  if (data.type === 'propagate') {
    const started = performance.now();
    const progress = (done, most) => {
      self.postMessage({ type: 'progress', id, done, most });
      return true;
    };
    const mask = await session.propagate(scan, axis, index, lo, hi, percentiles, box, data.first, data.last, progress);
    self.postMessage({ id, ok: true, mask, ms: performance.now() - started, ...backendReport() }, [mask.buffer]);
    return;
  }
  throw new Error(`unknown request ${data.type}`);
}
