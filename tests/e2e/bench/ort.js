// Peer benchmark: onnxruntime-web (wasm backend; ort.html?threads=N, 1 by default: more needs a
// cross-origin isolated page) on an ONNX model;
// window.runOrt(url, dims, runs = 1) resolves to {seconds (the median), all (every run's seconds),
// outputDims, wasmBytes} for `runs` runs of one session on the same random input. `dims` is one
// input's dims, or a list of dims, one per model input in order. wasmBytes: the size of the wasm
// memories made so far (they only grow: their peak; ort.html notes each one made).
import * as ort from '/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs';

ort.env.wasm.numThreads = Number(new URLSearchParams(location.search).get('threads') ?? 1);
ort.env.wasm.wasmPaths = '/node_modules/onnxruntime-web/dist/';

window.runOrt = async (url, dims, runs = 1) => {
  const session = await ort.InferenceSession.create(url, { executionProviders: ['wasm'] });
  const shapes = Array.isArray(dims[0]) ? dims : [dims];
  const feeds = {};
  shapes.forEach((shape, i) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let j = 0; j < data.length; j++) data[j] = Math.random();
    feeds[session.inputNames[i]] = new ort.Tensor('float32', data, shape);
  });
  const all = [];
  let outputDims;
  for (let run = 0; run < runs; run++) {
    const started = performance.now();
    const out = await session.run(feeds);
    all.push((performance.now() - started) / 1000);
    outputDims = out[session.outputNames[0]].dims;
    for (const tensor of Object.values(out)) tensor.dispose?.();
  }
  const seconds = all.slice().sort((a, b) => a - b)[all.length >> 1];
  const wasmBytes = window.wasmMemories.reduce((sum, memory) => sum + memory.buffer.byteLength, 0);
  return { seconds, all, outputDims, wasmBytes };
};
document.getElementById('out').textContent = 'ready';
