// A Web Worker that runs one segmentation and then is discarded: Cancel terminates it, so a
// long inference never blocks the viewer's worker.
// In: {scan: {name, bytes}, manifest, files: [ArrayBuffer], backend: 'auto' | 'gpu' | 'cpu'}.
// Out: {type: 'progress', stage, fraction} …, then {type: 'done', labels, seconds, wasmBytes, backend,
// notes, gpuBytes} or {type: 'error', message}.
import init, { Scan, Segmenter } from './pkg/medseg.js';

self.onmessage = async ({ data }) => {
  try {
    await init();
    const { scan, manifest, files } = data;
    const progress = (stage, fraction) => {
      self.postMessage({ type: 'progress', stage, fraction });
      return true;
    };
    progress('loading the model', 0);
    const segmenter = new Segmenter(JSON.stringify(manifest), files.map((b) => new Uint8Array(b)));
    progress('choosing the backend', 0);
    const backend = await segmenter.useBackend(data.backend ?? 'auto');
    const volume = scan.pair
      ? Scan.fromPair(new Uint8Array(scan.pair[0]), new Uint8Array(scan.pair[1]))
      : Scan.fromBytes(new Uint8Array(scan.bytes));
    const started = performance.now();
    const labels = await segmenter.run(volume, progress);
    const seconds = (performance.now() - started) / 1000;
    const wasmBytes = (await init()).memory.buffer.byteLength;
    const notes = segmenter.backendNotes();
    const gpuBytes = segmenter.gpuPeakBytes();
    self.postMessage({ type: 'done', labels, seconds, wasmBytes, backend, notes, gpuBytes }, [labels.buffer]);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    // A failed allocation aborts wasm with "unreachable": say what happened in plain words.
    const gpu = /^the GPU backend/.test(message);
    const outOfMemory = !gpu && (/unreachable|out of memory|allocation/i.test(message) || e instanceof RangeError);
    self.postMessage({
      type: 'error',
      message: gpu
        ? `${message}: choose Auto or CPU under Backend`
        : outOfMemory
        ? 'the browser ran out of memory for this model and scan (WebAssembly can use at most 4 GB). Try a smaller model, or `medseg segment` on the command line.'
        : message,
    });
  }
};
