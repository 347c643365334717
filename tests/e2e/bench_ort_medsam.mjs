// Browser peer benchmark (not a test): LiteMedSAM's encoder and decoder in onnxruntime-web (wasm,
// THREADS threads, 1 by default) in the same Chromium the page runs in, the same ONNX files the page runs:
// the median of RUNS runs of one session, and the wasm memory it took.
// Usage: [RUNS=5] [THREADS=2] node bench_ort_medsam.mjs [encoder] [decoder]   (both by default)
import { join } from 'node:path';
import { ISOLATION, launch, serve, ROOT } from './harness.mjs';

const server = await serve([
  ['/bench/', join(ROOT, 'tests/e2e/bench')],
  ['/node_modules/', join(ROOT, 'tests/e2e/node_modules')],
  ['/onnx/', join(ROOT, 'models/litemedsam')],
], { headers: () => ISOLATION });
const runs = Number(process.env.RUNS ?? 5);
const threads = Number(process.env.THREADS ?? 1); // more than 1: the page is isolated (ISOLATION)
const browser = await launch();
const asked = process.argv.slice(2);
const parts = [
  ['litemedsam_encoder', [[1, 3, 256, 256]]],
  ['litemedsam_decoder', [[1, 256, 64, 64], [1, 1, 4]]],
].filter(([model]) => !asked.length || asked.some((part) => model.endsWith(part)));
for (const [model, dims] of parts) {
  const page = await browser.newPage();
  await page.goto(`${server.origin}/bench/ort.html?threads=${threads}`);
  await page.waitForFunction(() => window.runOrt);
  try {
    const r = await page.evaluate(([url, dims, runs]) => window.runOrt(url, dims, runs), [`/onnx/${model}.onnx`, dims, runs]);
    const all = r.all.map((s) => (s * 1000).toFixed(0)).join(', ');
    console.log(`${model}: onnxruntime-web (wasm, ${threads} thread(s)) median ${(r.seconds * 1000).toFixed(0)} ms of ${runs} (${all}), ` +
      `wasm memory ${(r.wasmBytes / 2 ** 20).toFixed(0)} MB`);
  } catch (e) {
    console.log(`${model}: onnxruntime-web failed: ${e.message.split('\n')[0]}`);
  }
  await page.close();
}
await browser.close();
await server.close();
