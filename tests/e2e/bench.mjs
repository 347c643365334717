// Browser benchmark (not a test): time from opening a file to the first drawn slice in the real
// page, peak wasm memory, and decode time of medseg vs nifti-reader-js + fflate in the same page.
// Usage: node bench.mjs FILE...   (medians of 7 runs; ../shared files as arguments)
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { launch, ROOT, WWW } from './harness.mjs';

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.gz': 'application/gzip', '.css': 'text/css' };
const files = process.argv.slice(2);
const ROUTES = [['/bench/', join(ROOT, 'tests/e2e/bench')], ['/node_modules/', join(ROOT, 'tests/e2e/node_modules')], ['/scan/', null], ['/', WWW]];
const server = createServer(async (req, res) => {
  const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  const [prefix, dir] = ROUTES.find(([p]) => path.startsWith(p));
  const file = dir ? join(dir, path.slice(prefix.length) || 'index.html') : files.find((f) => basename(f) === path.slice(prefix.length));
  try {
    const body = await readFile(file);
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const origin = `http://127.0.0.1:${server.address().port}`;
const browser = await launch();
const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];

for (const file of files) {
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
  const decode = await page.evaluate((url) => window.benchmark(url), '/scan/' + basename(file));
  await page.close();
  console.log(`${basename(file)}: first slice ${median(firstSlice).toFixed(0)} ms (page, median of 7), wasm memory ${median(wasm).toFixed(0)} MB; ` +
    `decode medseg ${decode.medsegMs.toFixed(0)} ms vs nifti-reader-js+fflate ${decode.peerMs.toFixed(0)} ms (same page, median of 7)`);
}
await browser.close();
server.close();
