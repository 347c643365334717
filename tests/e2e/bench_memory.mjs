// Browser benchmark (not a test): memory of all the page's workers together on one scan. Opens
// the scan in the real page (headless Chromium), runs a catalog model, then draws a MedSAM box, and
// prints after each step every live worker's wasm memory (WebAssembly memory only grows, so that
// is its peak), the disposable segmentation worker's (from the page's "wasm memory N MB" line, the
// worker being gone by then), the page thread's ArrayBuffer backing stores (after a GC: the volume
// shown, overlays, kept copies of file bytes) and the total.
// Works on any version of www/ (to compare before/after a change): the wasm glue (pkg/medseg.js) is
// served with one added line that leaves its exports on the worker's global for this script to read.
// Usage: node bench_memory.mjs SCAN [--www DIR] [--models DIR] [--model NAME|none] [--no-medsam] [--refused]
//   --www defaults to this checkout's www/, --models to its models/, --model to model5_gw_ae;
//   --refused: the page is expected to refuse SCAN (e.g. a gzip bomb over the memory budget): print
//   its message and the memory once it has.
//   e.g. node bench_memory.mjs ../../../shared/data/brain/t1_crop.nii.gz
//        python3 ../../scripts/make_large_ct.py && node bench_memory.mjs /tmp/medseg_large_ct.nii.gz
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { launch, serve, ROOT } from './harness.mjs';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? args.splice(at, 2)[1] : fallback;
};
const flag = (name) => {
  const at = args.indexOf(name);
  return at >= 0 && args.splice(at, 1).length > 0;
};
const www = resolve(option('--www', join(ROOT, 'www')));
const models = resolve(option('--models', join(ROOT, 'models')));
const model = option('--model', 'model5_gw_ae');
const medsam = !flag('--no-medsam');
const refused = flag('--refused');
const [scanArg] = args;
if (!scanArg) {
  console.error('usage: node bench_memory.mjs SCAN [--www DIR] [--models DIR] [--model NAME|none] [--no-medsam] [--refused]');
  process.exit(2);
}
const TIMEOUT = 60 * 60_000;
const MB = (bytes) => (bytes / 2 ** 20).toFixed(0);

// pkg/ with the glue patched: `wasm = instance.exports;` also sets globalThis.__medsegWasm.
const pkg = mkdtempSync(join(tmpdir(), 'medseg-bench-pkg-'));
const glue = readFileSync(join(www, 'pkg/medseg.js'), 'utf8');
const patched = glue.replace(/(\bwasm = instance\.exports;)/, '$1 globalThis.__medsegWasm = wasm;');
if (patched === glue) throw new Error('pkg/medseg.js: no "wasm = instance.exports;" to hook');
writeFileSync(join(pkg, 'medseg.js'), patched);
symlinkSync(join(www, 'pkg/medseg_bg.wasm'), join(pkg, 'medseg_bg.wasm'));

const server = await serve([['/pkg/', pkg], ['/models/', models], ['/', www]]);
const browser = await launch();
const context = await browser.newContext({ serviceWorkers: 'block', viewport: { width: 1500, height: 800 } });
const page = await context.newPage();
page.on('pageerror', (e) => console.error('page error:', e.message));
const cdp = await context.newCDPSession(page);
const peaks = new Map(); // worker → its largest wasm memory seen
let pagePeak = 0;

/** Every live worker's wasm memory, the page's ArrayBuffers, and their total, after `step`. */
async function measure(step, gone = []) {
  await cdp.send('HeapProfiler.collectGarbage');
  const heap = await cdp.send('Runtime.getHeapUsage');
  const workers = [];
  for (const worker of page.workers()) {
    const bytes = await worker.evaluate(() => globalThis.__medsegWasm?.memory.buffer.byteLength ?? 0).catch(() => 0);
    workers.push({ name: new URL(worker.url()).pathname.slice(1), bytes });
  }
  workers.push(...gone);
  for (const w of workers) peaks.set(w.name, Math.max(peaks.get(w.name) ?? 0, w.bytes));
  const pageBuffers = heap.backingStorageSize ?? 0;
  pagePeak = Math.max(pagePeak, pageBuffers);
  const total = pageBuffers + workers.reduce((s, w) => s + w.bytes, 0);
  console.log(`${step}: total ${MB(total)} MB = page ArrayBuffers ${MB(pageBuffers)} MB (JS heap ${MB(heap.usedSize)} MB)` +
    workers.map((w) => ` + ${w.name} ${MB(w.bytes)} MB`).join(''));
}

const failed = () => page.evaluate(() => {
  const message = document.getElementById('message');
  return !message.hidden && message.textContent ? message.textContent : null;
});

await page.goto(server.origin + '/');
await page.setInputFiles('#open-scan', [resolve(scanArg)]);
await page.waitForFunction(() => document.body.dataset.state === 'ready' || !document.getElementById('message').hidden, null, { timeout: 600_000 });
if (refused) {
  const message = await failed();
  if (!message) throw new Error(`${scanArg} opened, but --refused expected the page to refuse it`);
  console.log(`${scanArg} refused: ${message}`);
  await measure('refused');
  await browser.close();
  await server.close();
  process.exit(0);
}
if (await failed()) throw new Error(await failed());
console.log(`${scanArg} (${await page.textContent('#scan-dims')}, ${await page.textContent('#scan-type')}) with ${www}`);
await measure('opened');

if (model !== 'none') {
  await page.waitForFunction((m) => [...document.querySelectorAll('#model-picker option')].some((o) => o.value === m), model);
  await page.selectOption('#model-picker', model);
  await page.selectOption('#backend', 'cpu');
  await page.click('#run-model');
  await page.waitForFunction((m) => document.body.dataset.segmented === m || !document.getElementById('message').hidden, model, { timeout: TIMEOUT, polling: 500 });
  if (await failed()) throw new Error(await failed());
  const text = await page.textContent('#model-result');
  const segmentPeak = Number(text.match(/wasm memory (\d+) MB/)[1]) * 2 ** 20;
  console.log(`  ${text.split('\n')[0]}`);
  await measure(`segmented (${model})`, [{ name: 'segmentation worker (at its end; terminated since)', bytes: segmentPeak }]);
}

if (medsam) {
  const dims = (await page.textContent('#scan-dims')).split('×').map((s) => Number(s.trim()));
  const [nx, ny, nz] = dims;
  const box = [Math.round(nx * 0.3), Math.round(ny * 0.3), Math.round(nx * 0.7), Math.round(ny * 0.7)];
  await page.evaluate(([k, b]) => window.medsegBoxTool.segmentBox(2, k, b), [nz >> 1, box]);
  await page.waitForFunction(() => Number(document.body.dataset.medsamBoxes ?? 0) >= 1 || !document.getElementById('message').hidden, null, { timeout: TIMEOUT });
  if (await failed()) throw new Error(await failed());
  console.log(`  ${(await page.textContent('#medsam-result')).split('\n')[0]}`);
  await measure('MedSAM box');
}

const all = [...peaks.values()].reduce((a, b) => a + b, 0);
console.log(`all workers summed (each at its peak) + page ArrayBuffers: ${MB(all + pagePeak)} MB = page ${MB(pagePeak)} MB` +
  [...peaks].map(([name, bytes]) => ` + ${name} ${MB(bytes)} MB`).join(''));
await browser.close();
await server.close();
