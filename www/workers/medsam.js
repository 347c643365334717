// A worker holding one MedSAM session (LiteMedSAM in wasm) and the scan it works on: slice
// embeddings stay cached here, so each new box on an encoded slice costs only the decoder.
// Cancel of a propagation terminates it (the page starts a fresh one on the next box).
// The scan arrives as the scan worker's stored voxels and geometry (Scan.fromVoxels), transferred.
// Requests (lib/rpc.js):
//     load {input: {geometry, values} | picture: {rgba, width, height}, manifest, encoder, decoder, backend,
//           threads}   (the first request: `threads` picks the build, lib/wasm.js)
//     backend {backend}   ('auto' | 'gpu' | 'cpu'; the cached embeddings stay)
//     segment {axis, index, lo, hi, percentiles, box, count}
//     propagate {axis, index, lo, hi, percentiles, box, first, last}; progress {done, most}
// Replies to load and backend carry {backend} (which backend and why); replies to segment and
// propagate carry {backend, notes, gpuBytes, build, threads} (what happened on the GPU, its peak
// memory, which build ran on how many threads); propagate's also inFlight (slices worked on at once).
import { explainRunError, scanFromInput, serially, serve } from '../lib/serve.js';
import { loadWasm } from '../lib/wasm.js';

let wasm = null; // loadWasm's answer: the build this worker runs

let session = null;
let scan = null;
let picture = null; // a 2D picture instead of a scan: {rgba, width, height, encoded}
let prefetch = null; // the idle-time encoding of neighbouring slices
let timer = null;

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

/** Which backend ran, what happened on it and its peak GPU memory, for a reply. */
function backendReport() {
  return {
    backend: session.backendDescription(), notes: session.backendNotes(), gpuBytes: session.gpuPeakBytes(),
    build: wasm.build, threads: wasm.threads,
  };
}

const handlers = {
  async load({ manifest, encoder, decoder, backend: choice, input, picture: given }) {
    session = null;
    scan?.free();
    scan = null;
    const { MedSamSession, Scan } = wasm.pkg;
    const loaded = new MedSamSession(JSON.stringify(manifest), new Uint8Array(encoder), new Uint8Array(decoder));
    const backend = await loaded.useBackend(choice ?? 'auto');
    session = loaded;
    picture = given ? { ...given, rgba: new Uint8Array(given.rgba), encoded: false } : null;
    if (!picture) scan = scanFromInput(Scan, input);
    return { reply: { backend, build: wasm.build, threads: wasm.threads } };
  },
  async backend({ backend: choice }) {
    return { reply: { backend: await session.useBackend(choice) } };
  },
  async segment(request) {
    const { axis, index, lo, hi, percentiles } = request;
    const box = new Float32Array(request.box);
    session.resetGpuPeak();
    const started = performance.now();
    let encoded;
    let mask;
    if (picture) {
      // The whole picture is one slice: encoded once (encodePicture), then decoder only.
      encoded = picture.encoded;
      if (!encoded) {
        await session.encodePicture(picture.rgba, picture.width, picture.height);
        picture.encoded = true;
      }
      mask = await session.segmentPicture(box);
    } else {
      encoded = session.isEncoded(axis, index, lo, hi, percentiles);
      mask = await session.segment(scan, axis, index, lo, hi, percentiles, box);
      if (request.count) scheduleNeighbours(request, request.count);
    }
    const ms = performance.now() - started;
    return { reply: { mask, ms, encoded, ...backendReport() }, transfer: [mask.buffer] };
  },
  async propagate({ axis, index, lo, hi, percentiles, box, first, last }, progress) {
    session.resetGpuPeak();
    const started = performance.now();
    const report = (done, most) => {
      progress({ done, most });
      return true;
    };
    const mask = await session.propagate(scan, axis, index, lo, hi, percentiles, new Float32Array(box), first, last, report);
    const inFlight = session.slicesInFlight();
    return { reply: { mask, ms: performance.now() - started, inFlight, ...backendReport() }, transfer: [mask.buffer] };
  },
};

serve(handlers, {
  ready: async ({ threads }) => (wasm = await loadWasm(threads)),
  beforeEach() {
    // A request stops the idle-time encoding of neighbouring slices.
    clearTimeout(timer);
    prefetch = null;
  },
  explain: (e) => explainRunError(e, 'MedSAM'),
});
