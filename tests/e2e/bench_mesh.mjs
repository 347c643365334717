// Browser benchmark (not a test): label surfaces in the real page (www/, served by the harness,
// headless Chromium, wasm, 1 thread) with the page's default options (smooth 10, at most 20000
// triangles per label). Opens the scan and its label map, clicks "3D" and waits for the surfaces.
// Prints, per run: the time the mesh worker took (Surfaces in wasm, what the status line says),
// the triangles, the mesh worker's wasm memory, and the wall time from the click to the first frame
// drawn (adds the worker's start, sending the arrays over and uploading them to WebGL, SwiftShader
// here); then the medians. A fresh page each run.
// Usage: node bench_mesh.mjs [RUNS] [SCAN LABELS]
//   RUNS defaults to 3; without SCAN LABELS, ../shared's two cases: example_ct with its 61 labels
//   (example_seg_fast_force_split) and norm with aparc.a2009s+aseg (188 labels).
import { join, resolve } from 'node:path';
import { launch, serve, SHARED } from './harness.mjs';

const [runsArg = '3', ...pair] = process.argv.slice(2);
const runs = Number(runsArg);
if (!(runs >= 1) || (pair.length !== 0 && pair.length !== 2)) {
  console.error('usage: node bench_mesh.mjs [RUNS] [SCAN LABELS]');
  process.exit(2);
}
const cases = pair.length ? [pair.map((p) => resolve(p))] : [
  ['ct/example_ct.nii.gz', 'ct/example_seg_fast_force_split.nii.gz'],
  ['brain/norm.nii.gz', 'brain/aparc.a2009s+aseg.nii.gz'],
].map((c) => c.map((p) => join(SHARED, 'data', p)));
const TIMEOUT = 60 * 60_000;
const server = await serve();
const browser = await launch();
const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];

for (const [scan, labels] of cases) {
  const results = [];
  for (let run = 0; run < runs; run++) {
    const page = await browser.newPage({ viewport: { width: 1500, height: 800 } });
    page.setDefaultTimeout(TIMEOUT);
    page.on('pageerror', (e) => console.error('page error:', e.message));
    await page.goto(server.origin + '/');
    await page.setInputFiles('#open-scan', scan);
    await page.waitForFunction(() => document.body.dataset.state === 'ready');
    await page.setInputFiles('#open-overlay', labels);
    await page.waitForSelector('#label-table tbody tr');
    const clicked = Date.now();
    await page.click('#show-3d');
    const outcome = await page.waitForFunction(() => {
      const { mesh } = document.body.dataset;
      if (mesh === 'failed') return `error: ${document.getElementById('message').textContent}`;
      return mesh === 'done' && window.medsegMesh.view()?.frame > 0 && 'done';
    }, null, { polling: 100 }).then((h) => h.jsonValue());
    const wallSeconds = (Date.now() - clicked) / 1000;
    const label = `${labels.split('/').pop()} on ${scan.split('/').pop()}`;
    if (outcome !== 'done') {
      console.log(`${label}: run ${run + 1} FAILED — ${outcome}`);
      process.exitCode = 1;
      await page.close();
      break;
    }
    // "N surfaces · T triangles · made in S s · wasm memory M MB" (www/mesh.js)
    const status = await page.textContent('#mesh-status');
    const [, surfaces, triangles, wasmMB] = status.match(/^(\d+) surfaces · ([\d,]+) triangles · made in [\d.]+ s · wasm memory (\d+) MB/);
    const seconds = Number(await page.evaluate(() => document.body.dataset.meshSeconds));
    results.push({ seconds, wallSeconds, triangles: Number(triangles.replaceAll(',', '')), wasmMB: Number(wasmMB) });
    console.log(`${label}: run ${run + 1}: ${surfaces} surfaces, ${triangles} triangles, worker ${seconds.toFixed(2)} s, ` +
      `click→first frame ${wallSeconds.toFixed(1)} s, mesh worker wasm memory ${wasmMB} MB`);
    await page.close();
  }
  if (results.length === runs) {
    console.log(`${labels.split('/').pop()}: median of ${runs}: worker ${median(results.map((r) => r.seconds)).toFixed(1)} s, ` +
      `click→first frame ${median(results.map((r) => r.wallSeconds)).toFixed(1)} s, ${(results[0].triangles / 1e6).toFixed(2)} M triangles, ` +
      `peak wasm memory ${Math.max(...results.map((r) => r.wasmMB))} MB`);
  }
}
await browser.close();
await server.close();
