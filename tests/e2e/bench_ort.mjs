// Browser peer benchmark (not a test): onnxruntime-web, wasm, THREADS threads (1 by default), in the same Chromium the
// page runs in. Usage: [RUNS=3] [THREADS=2] node bench_ort.mjs DIR_WITH_ONNX D H W MODEL...
// (RUNS runs of one session on the same input, median; 1 by default), and the wasm memory it took.
import { join, resolve } from 'node:path';
import { ISOLATION, launch, serve, ROOT } from './harness.mjs';

const [dir, d, h, w, ...models] = process.argv.slice(2);
const server = await serve([
  ['/bench/', join(ROOT, 'tests/e2e/bench')],
  ['/node_modules/', join(ROOT, 'tests/e2e/node_modules')],
  ['/onnx/', resolve(dir)],
], { headers: () => ISOLATION });
const runs = Number(process.env.RUNS ?? 1);
const threads = Number(process.env.THREADS ?? 1); // more than 1: the page is isolated (ISOLATION)
const browser = await launch();
for (const model of models) {
  const page = await browser.newPage();
  await page.goto(`${server.origin}/bench/ort.html?threads=${threads}`);
  await page.waitForFunction(() => window.runOrt);
  try {
    const r = await page.evaluate(([url, dims, runs]) => window.runOrt(url, dims, runs), [`/onnx/${model}.onnx`, [1, 1, +d, +h, +w], runs]);
    const of = runs > 1 ? ` (median of ${runs}: ${r.all.map((s) => s.toFixed(1)).join(', ')})` : '';
    console.log(`${model} [1,1,${d},${h},${w}]: onnxruntime-web (wasm, ${threads} thread(s)) ${r.seconds.toFixed(1)} s${of}, ` +
      `wasm memory ${(r.wasmBytes / 2 ** 20).toFixed(0)} MB`);
  } catch (e) {
    console.log(`${model}: onnxruntime-web failed: ${e.message.split('\n')[0]}`);
  }
  await page.close();
}
await browser.close();
await server.close();
