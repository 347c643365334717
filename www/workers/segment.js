// A worker that runs one segmentation and is then discarded (lib/scan.js runModel): Cancel
// terminates it, so a long inference never blocks the scan worker. It never sees the scan's file:
// it gets the scan worker's stored voxels and geometry (Scan.fromVoxels), transferred.
// Request: segment {geometry, values: Uint8Array (stored voxels), manifest, files: [ArrayBuffer],
// backend: 'auto' | 'gpu' | 'cpu', threads}; `threads` picks the build (lib/wasm.js).
// Progress: {stage, fraction} …; reply: {labels, seconds, stages: [[stage, seconds]…], wasmBytes, backend, notes,
// gpuBytes, build, threads}.
import { explainRunError, scanFromInput, serve } from '../lib/serve.js';
import { loadWasm } from '../lib/wasm.js';

let wasm = null; // loadWasm's answer: the build this worker runs

/** The least time between two progress messages of one stage (ms). */
const PROGRESS_MS = 100;

const handlers = {
  async segment({ manifest, files, backend: choice, ...input }, progress) {
    const { Scan, Segmenter } = wasm.pkg;
    const marks = []; // [stage, ms] when each stage began
    let posted = -Infinity; // when progress was last sent to the page
    const report = (stage, fraction) => {
      const now = performance.now();
      const newStage = marks.at(-1)?.[0] !== stage;
      if (newStage) marks.push([stage, now]);
      // The network reports before each of its nodes, hundreds a second: the page hears a new
      // stage at once and the fraction at most every PROGRESS_MS, so its main thread does not
      // take a core from the network's threads.
      if (newStage || now - posted >= PROGRESS_MS) {
        posted = now;
        progress({ stage, fraction });
      }
      return true;
    };
    report('loading the model', 0);
    const segmenter = new Segmenter(JSON.stringify(manifest), files.map((b) => new Uint8Array(b)));
    report('choosing the backend', 0);
    const backend = await segmenter.useBackend(choice ?? 'auto');
    const scan = scanFromInput(Scan, input);
    const started = performance.now();
    const labels = await segmenter.run(scan, report);
    const ended = performance.now();
    const seconds = (ended - started) / 1000;
    // Seconds per stage of the run (what `medseg bench` prints natively), for benchmarks.
    const run = marks.filter(([, at]) => at >= started);
    const stages = run.map(([stage, at], i) => [stage, ((run[i + 1]?.[1] ?? ended) - at) / 1000]);
    const notes = segmenter.backendNotes();
    const gpuBytes = segmenter.gpuPeakBytes();
    const { build, threads } = wasm;
    return { reply: { labels, seconds, stages, backend, notes, gpuBytes, build, threads }, transfer: [labels.buffer] };
  },
};

serve(handlers, {
  ready: async ({ threads }) => (wasm = await loadWasm(threads)),
  explain: (e) => explainRunError(e, 'this model and scan', '. Try a smaller model, or `medseg segment` on the command line.'),
});
