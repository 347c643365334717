// Browser benchmark (not a test): time from opening a file to the first drawn slice in the real
// page, peak wasm memory, and decode time of medseg vs nifti-reader-js + fflate in the same page.
// Usage: node bench.mjs FILE...   (medians of 7 runs; ../shared files as arguments)
import { basename, dirname, join, resolve } from 'node:path';
import { launch, serve, ROOT, WWW } from './harness.mjs';

const files = process.argv.slice(2).map((f) => resolve(f));
// Each scan is served from its own folder at /scanN/.
const server = await serve([
  ['/bench/', join(ROOT, 'tests/e2e/bench')],
  ['/node_modules/', join(ROOT, 'tests/e2e/node_modules')],
  ...files.map((f, i) => [`/scan${i}/`, dirname(f)]),
  ['/', WWW],
]);
const { origin } = server;
const browser = await launch();
const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];

for (const [index, file] of files.entries()) {
  const firstSlice = [];
  const wasm = [];
  for (let run = 0; run < 7; run++) {
    const page = await browser.newPage({ viewport: { width: 1500, height: 700 } });
    await page.goto(origin + '/');
    await page.setInputFiles('#open-scan', [file]);
    await page.waitForFunction(() => document.body.dataset.firstSliceMs);
    firstSlice.push(Number(await page.evaluate(() => document.body.dataset.firstSliceMs)));
    wasm.push(Number(await page.evaluate(() => document.body.dataset.wasmBytes)) / 2 ** 20);
    await page.close();
  }
  const page = await browser.newPage();
  await page.goto(origin + '/bench/decode.html');
  await page.waitForFunction(() => window.benchmark);
  const decode = await page.evaluate((url) => window.benchmark(url), `/scan${index}/${basename(file)}`);
  await page.close();
  console.log(`${basename(file)}: first slice ${median(firstSlice).toFixed(0)} ms (page, median of 7), wasm memory ${median(wasm).toFixed(0)} MB; ` +
    `decode medseg ${decode.medsegMs.toFixed(0)} ms vs nifti-reader-js+fflate ${decode.peerMs.toFixed(0)} ms (same page, median of 7)`);
}
await browser.close();
await server.close();
