// Measures (not a test) what a first visit downloads and how fast a warm visit shows a slice:
//   cd tests/e2e && node bench_embed.mjs [RUNS]
// First load: every response the page, its workers and the service worker received, sized as a
// static host would send it (gzip -9 of the file). Warm: the app with the offline copy in place,
// navigation start → first slice drawn, for index.html?scan=<sample> and the teaching example page.
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { serve, launch, WWW } from './harness.mjs';

const RUNS = Number(process.argv[2] ?? 5);
const server = await serve();
const browser = await launch();
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

function sizes(urls) {
  const seen = new Map();
  for (const u of urls) {
    const path = new URL(u).pathname;
    if (!u.startsWith(server.origin) || seen.has(path)) continue;
    let file = join(WWW, decodeURIComponent(path));
    if (file.endsWith('/')) file += 'index.html';
    try {
      const bytes = readFileSync(file);
      seen.set(path, { raw: bytes.length, gz: gzipSync(bytes, { level: 9 }).length });
    } catch {
      // 404s (favicon of a fixture, …) carry no body worth counting
    }
  }
  return seen;
}

const kb = (n) => `${(n / 1024).toFixed(0)} KiB`;
function report(title, files) {
  const all = [...files.values()];
  const raw = all.reduce((s, f) => s + f.raw, 0);
  const gz = all.reduce((s, f) => s + f.gz, 0);
  console.log(`${title}: ${files.size} files, ${kb(raw)} raw, ${kb(gz)} gzip -9`);
  for (const [path, f] of [...files].sort((a, b) => b[1].gz - a[1].gz).slice(0, 6)) console.log(`    ${path.padEnd(42)} ${kb(f.raw).padStart(10)} ${kb(f.gz).padStart(10)}`);
  return gz;
}

for (const [label, address, ready] of [
  ['app with ?scan=sample', '/?scan=sample/mni152_t1.nii.gz', () => document.body.dataset.firstSliceAt],
  ['teaching example page', '/examples/', () => [...document.querySelectorAll('medseg-viewer')].every((e) => e.firstSliceAt)],
]) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const pageUrls = [];
  const workerUrls = [];
  context.on('requestfinished', (r) => (r.serviceWorker() ? workerUrls : pageUrls).push(r.url()));
  await page.goto(server.origin + address);
  await page.waitForFunction(ready, null, { timeout: 60_000 });
  const firstVisit = await page.evaluate(() => document.body.dataset.firstSliceAt ?? Math.max(...[...document.querySelectorAll('medseg-viewer')].map((e) => e.firstSliceAt)));
  // The offline copy is fetched by the service worker after the page; the app page registers it.
  if (address.startsWith('/?')) await page.waitForFunction(() => document.body.dataset.offline === 'ready', null, { timeout: 120_000 });
  console.log(`\n== ${label} (${address})`);
  const pageGz = report('  first load, what the page needs for its first slice', sizes(pageUrls));
  if (workerUrls.length) {
    const swFiles = sizes(workerUrls);
    const all = sizes([...pageUrls, ...workerUrls]);
    report('  offline copy fetched by the service worker', swFiles);
    report('  first visit in all (page + offline copy, each file once)', all);
  }
  console.log(`  first visit: first slice at ${Number(firstVisit).toFixed(0)} ms after navigation start (page ${kb(pageGz)} gzip)`);
  const warm = [];
  for (let i = 0; i < RUNS; i++) {
    await page.reload();
    await page.waitForFunction(ready, null, { timeout: 60_000 });
    warm.push(Number(await page.evaluate(() => document.body.dataset.firstSliceAt ?? Math.max(...[...document.querySelectorAll('medseg-viewer')].map((e) => e.firstSliceAt)))));
  }
  const controlled = await page.evaluate(() => !!navigator.serviceWorker.controller);
  const perElement = await page.evaluate(() => [...document.querySelectorAll('medseg-viewer')].map((e) => `${e.id} ${e.firstSliceMs.toFixed(0)} ms, wasm memory ${(e.wasmBytes / 2 ** 20).toFixed(0)} MiB`));
  if (perElement.length) console.log(`  one worker per element: ${perElement.join('; ')}`);
  console.log(`  warm cache (${controlled ? 'served by the service worker' : 'HTTP cache only'}): first slice median ${median(warm).toFixed(0)} ms after navigation start (runs: ${warm.map((w) => w.toFixed(0)).join(', ')})`);
  await context.close();
}
await browser.close();
await server.close();
