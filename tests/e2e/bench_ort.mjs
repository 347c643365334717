// Browser peer benchmark (not a test): onnxruntime-web, wasm, 1 thread, in the same Chromium the
// page runs in. Usage: node bench_ort.mjs DIR_WITH_ONNX D H W MODEL...
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { launch, ROOT } from './harness.mjs';

const [dir, d, h, w, ...models] = process.argv.slice(2);
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm' };
const ROUTES = [['/bench/', join(ROOT, 'tests/e2e/bench')], ['/node_modules/', join(ROOT, 'tests/e2e/node_modules')], ['/onnx/', dir]];
const server = createServer(async (req, res) => {
  const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  const route = ROUTES.find(([p]) => path.startsWith(p));
  try {
    const file = join(route[1], path.slice(route[0].length));
    const body = await readFile(file);
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const browser = await launch();
for (const model of models) {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${server.address().port}/bench/ort.html`);
  await page.waitForFunction(() => window.runOrt);
  try {
    const r = await page.evaluate(([url, dims]) => window.runOrt(url, dims), [`/onnx/${model}.onnx`, [1, 1, +d, +h, +w]]);
    console.log(`${model} [1,1,${d},${h},${w}]: onnxruntime-web (wasm, 1 thread) ${r.seconds.toFixed(1)} s`);
  } catch (e) {
    console.log(`${model}: onnxruntime-web failed: ${e.message.split('\n')[0]}`);
  }
  await page.close();
}
await browser.close();
server.close();
