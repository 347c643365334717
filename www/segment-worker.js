// A Web Worker that runs one segmentation and then is discarded: Cancel terminates it, so a
// long inference never blocks the viewer's worker. In: {scan: {name, bytes}, manifest, files: [ArrayBuffer]}.
// Out: {type: 'progress', stage, fraction} …, then {type: 'done', labels} or {type: 'error', message}.
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
    const volume = scan.pair
      ? Scan.fromPair(new Uint8Array(scan.pair[0]), new Uint8Array(scan.pair[1]))
      : Scan.fromBytes(new Uint8Array(scan.bytes));
    const started = performance.now();
    const labels = await segmenter.run(volume, progress);
    const seconds = (performance.now() - started) / 1000;
    const wasmBytes = (await init()).memory.buffer.byteLength;
    self.postMessage({ type: 'done', labels, seconds, wasmBytes }, [labels.buffer]);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    // A failed allocation aborts wasm with "unreachable": say what happened in plain words.
    const outOfMemory = /unreachable|out of memory|allocation/i.test(message) || e instanceof RangeError;
    self.postMessage({
      type: 'error',
      message: outOfMemory
        ? 'the browser ran out of memory for this model and scan (WebAssembly can use at most 4 GB). Try a smaller model, or `medseg segment` on the command line.'
        : message,
    });
  }
};
