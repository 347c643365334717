// Peer benchmark: onnxruntime-web (wasm backend, 1 thread) on an ONNX model;
// window.runOrt(url, dims) resolves to {seconds, outputDims} for one run on random input.
import * as ort from '/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs';

ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = '/node_modules/onnxruntime-web/dist/';

window.runOrt = async (url, dims) => {
  const session = await ort.InferenceSession.create(url, { executionProviders: ['wasm'] });
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.random();
  const input = new ort.Tensor('float32', data, dims);
  const started = performance.now();
  const out = await session.run({ [session.inputNames[0]]: input });
  const seconds = (performance.now() - started) / 1000;
  return { seconds, outputDims: out[session.outputNames[0]].dims };
};
document.getElementById('out').textContent = 'ready';
