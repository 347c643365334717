// Browser benchmark (not a test): MedSAM's box tool in the real page (www/, served with the
// isolation headers, headless Chromium, CPU backend), per thread count asked for. On each of
// SLICES axial slices of the example CT a box around the liver (the TotalSegmentator map's label 5)
// is drawn once: the worker encodes that slice (LiteMedSAM's encoder) and decodes the box. Prints
// the worker's milliseconds per box (encoder + decoder; the first box of a page also starts the
// worker's pool) and which build ran; then a second, slightly smaller box on the same slice
// (decoder only: the slice is encoded). Then the medians per thread count and the worker's wasm
// memory at the end (it only grows: its peak).
// With --propagate: one box on the liver's middle slice, then "Propagate through the volume" over
// the liver's slices (the range of label 5); prints the seconds the page reports.
// Usage: node bench_medsam.mjs [SLICES] [--threads N[,…]] [--propagate]   (SLICES 5, threads 1,2 by default)
import { join } from 'node:path';
import { ISOLATION, SHARED, dragMedsamBox, launch, newContext, openScanFiles, readNifti, serve } from './harness.mjs';

const args = process.argv.slice(2);
const at = args.indexOf('--threads');
const threadCounts = at >= 0 ? args.splice(at, 2)[1].split(',') : ['1', '2'];
const propagate = args.includes('--propagate');
if (propagate) args.splice(args.indexOf('--propagate'), 1);
const slices = Number(args[0] ?? 5);
const SCAN = join(SHARED, 'data/ct/example_ct.nii.gz');
const SEG = join(SHARED, 'data/ct/example_seg_fast_force_split.nii.gz');
const LIVER = 5;
const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];

/** Axial slices holding the liver, with the liver's box [j0, i0, j1, i1] on each. */
function liverSlices() {
  const { dims, values } = readNifti(SEG);
  const plane = dims[0] * dims[1];
  const withLiver = [];
  for (let k = 0; k < dims[2]; k++) {
    let [i0, j0, i1, j1] = [Infinity, Infinity, -1, -1];
    for (let p = 0; p < plane; p++) {
      if (values[k * plane + p] !== LIVER) continue;
      const i = p % dims[0];
      const j = Math.floor(p / dims[0]);
      [i0, i1, j0, j1] = [Math.min(i0, i), Math.max(i1, i), Math.min(j0, j), Math.max(j1, j)];
    }
    if (i1 - i0 > 10 && j1 - j0 > 10) withLiver.push({ k, box: [j0, i0, j1, i1] });
  }
  return withLiver;
}

/** `count` of those slices, evenly spaced (none next to another, so none is prefetched). */
function liverBoxes(count) {
  const withLiver = liverSlices();
  const step = withLiver.length / (count + 1);
  return Array.from({ length: count }, (_, n) => withLiver[Math.floor((n + 1) * step)]);
}

const server = await serve(undefined, { headers: () => ISOLATION });
const browser = await launch();
const context = await newContext(browser, { viewport: { width: 1500, height: 800 } });

/** The page with the example CT open, the Box tool on, on the CPU with `threads` asked for. */
async function boxPage(threads) {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(server.origin + '/');
  await openScanFiles(page, [SCAN]);
  await page.selectOption('#backend', 'cpu');
  await page.selectOption('#threads', threads);
  await page.selectOption('#layout', 'axial');
  await page.check('#box-tool');
  return page;
}

if (propagate) {
  const withLiver = liverSlices();
  const { k, box: [x0, y0, x1, y1] } = withLiver[withLiver.length >> 1];
  const [first, last] = [withLiver[0].k, withLiver.at(-1).k];
  for (const threads of threadCounts) {
    const page = await boxPage(threads);
    await page.evaluate(([i, j, kk]) => window.medsegViewer.setVoxel([i, j, kk]), [y0, x0, k]);
    await dragMedsamBox(page, [y0, x0, k], [y1, x1, k]);
    await page.fill('#propagate-first', String(first));
    await page.fill('#propagate-last', String(last));
    await page.click('#propagate');
    await page.waitForFunction(() => document.body.dataset.medsamPropagated);
    const text = await page.textContent('#medsam-result');
    console.log(`propagation of the liver (box on slice ${k}, slices ${first}–${last}), ${threads} thread(s) asked: ${text.replace(/\n/g, ' | ')}`);
    await page.close();
  }
  await browser.close();
  await server.close();
  process.exit(0);
}

const boxes = liverBoxes(slices);
const results = {};
for (const threads of threadCounts) {
  const page = await boxPage(threads);
  const ms = [];
  const decoderMs = [];
  let build = '';
  let wasmMB = '';
  for (const { k, box: [x0, y0, x1, y1] } of boxes) {
    await page.evaluate(([i, j, kk]) => window.medsegViewer.setVoxel([i, j, kk]), [y0, x0, k]);
    const data = await dragMedsamBox(page, [y0, x0, k], [y1, x1, k]);
    if (data.medsamEncoded !== '0') console.log(`  slice ${k}: already encoded (prefetched), not counted`);
    else ms.push(Number(data.medsamMs));
    const again = await dragMedsamBox(page, [y0 + 2, x0 + 2, k], [y1 - 2, x1 - 2, k]);
    if (again.medsamEncoded === '1') decoderMs.push(Number(again.medsamMs));
    wasmMB = again.medsamWasmMB;
    build = (await page.textContent('#medsam-result')).match(/(single-threaded|threaded) build[^\n·]*/)?.[0] ?? build;
  }
  console.log(`${threads} thread(s) asked: ${build}; box on a new slice (encoder + decoder): ${ms.join(', ')} ms; ` +
    `decoder only: ${decoderMs.join(', ')} ms`);
  results[threads] = { ms, decoderMs, wasmMB };
  await page.close();
}
for (const [threads, { ms, decoderMs, wasmMB }] of Object.entries(results)) {
  // The first box also starts the worker's pool and compiles: the median of the others.
  console.log(`LiteMedSAM in the page, ${threads} thread(s): median ${median(ms.slice(1))} ms per new slice ` +
    `(${ms.length - 1} slices), decoder only median ${median(decoderMs)} ms (${decoderMs.length} boxes), ` +
    `wasm memory ${wasmMB} MB`);
}
await browser.close();
await server.close();
