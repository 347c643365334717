// Browser benchmark (not a test): a 200-stroke editing session in the real page (www/, served by
// the harness, headless Chromium). Opens a scan with no labels and draws STROKES brush or eraser
// strokes with the mouse (a 3 mm disc dragged 30 voxels across the axial view, on slices spread
// through the volume; every fifth stroke erases across the one before), then undoes and redoes them all. Prints the
// voxels changed, the history's bytes (6 per changed voxel), the JS heap, and the median time of
// a stroke, an undo and a redo (from the mouse-up / call to the redrawn page).
// Usage: node bench_edit.mjs [SCAN] [STROKES]   (default: ../shared/data/brain/t1_crop.nii.gz, 200)
import { join, resolve } from 'node:path';
import { launch, newContext, openScanFiles, serve, SHARED } from './harness.mjs';

const scan = process.argv[2] ? resolve(process.argv[2]) : join(SHARED, 'data/brain/t1_crop.nii.gz');
const strokes = Number(process.argv[3] ?? 200);
const server = await serve();
const browser = await launch();
const context = await newContext(browser, { viewport: { width: 1400, height: 1000 } });
const page = await context.newPage();
page.on('pageerror', (e) => console.error('page error:', e.message));
await page.goto(server.origin + '/');
await openScanFiles(page, [scan]);
await page.selectOption('#layout', 'axial');
const dims = await page.evaluate(() => window.medsegViewer.volume.dims);
const heap = () => page.evaluate(() => performance.memory?.usedJSHeapSize ?? NaN);
const heapBefore = await heap();
const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];
const strokeMs = [];
await page.evaluate(() => { window.medsegEdit.setRadius(3); window.medsegEdit.setShape('disc'); });
for (let s = 0; s < strokes; s++) {
  const axis = await page.evaluate(() => window.medsegViewer.sliceAxis('axial'));
  const centre = dims.map((n) => Math.floor(n / 2));
  const slot = s % 5 === 4 ? (s - 1) % 50 : s % 50; // an eraser stroke crosses the stroke before it
  centre[axis] = Math.floor((slot + 0.5) * (dims[axis] / 50));
  const [u, v] = [0, 1, 2].filter((a) => a !== axis);
  const from = [...centre];
  const to = [...centre];
  from[u] -= 15;
  to[u] += 15;
  from[v] += (s % 7) * 3 - 9;
  to[v] -= (s % 5) * 3 - 6;
  await page.evaluate(([c, tool]) => { window.medsegViewer.setVoxel(c); window.medsegEdit.select(tool); }, [centre, s % 5 === 4 ? 'eraser' : 'brush']);
  const [a, b] = await page.evaluate(([p, q]) => [window.medsegViewer.screenOf('axial', p), window.medsegViewer.screenOf('axial', q)], [from, to]);
  await page.mouse.move(...a);
  await page.mouse.down();
  await page.mouse.move(...b, { steps: 10 });
  const t0 = await page.evaluate(() => performance.now());
  await page.mouse.up();
  strokeMs.push(await page.evaluate((t) => new Promise((ok) => requestAnimationFrame(() => ok(performance.now() - t))), t0));
}
const after = await page.evaluate(() => {
  const edits = window.medsegEdit.history();
  const changed = edits.undoStack.reduce((n, e) => n + e.indices.length, 0);
  return { steps: edits.undoStack.length, changed, bytes: edits.historyBytes() };
});
const heapAfter = await heap();
const timed = (what) => page.evaluate((w) => {
  const t = performance.now();
  window.medsegEdit[w]();
  return new Promise((ok) => requestAnimationFrame(() => ok(performance.now() - t)));
}, what);
const undoMs = [];
for (let s = 0; s < after.steps; s++) undoMs.push(await timed('undo'));
const empty = await page.evaluate(() => [...window.medsegEdit.host.overlay().values].every((v) => v === 0));
const redoMs = [];
for (let s = 0; s < after.steps; s++) redoMs.push(await timed('redo'));
const voxels = dims.reduce((a, b) => a * b, 1);
console.log(`scan ${scan.split('/').pop()} ${dims.join('×')} (${voxels} voxels; the label map itself: ${(voxels * 2 / 2 ** 20).toFixed(1)} MiB)`);
console.log(`strokes ${strokes}, kept in the history ${after.steps}, voxels changed ${after.changed}`);
console.log(`history ${(after.bytes / 2 ** 20).toFixed(2)} MiB (${(after.bytes / after.changed).toFixed(1)} bytes per changed voxel); JS heap ${(heapBefore / 2 ** 20).toFixed(1)} → ${(heapAfter / 2 ** 20).toFixed(1)} MiB`);
console.log(`median ms: stroke ${median(strokeMs).toFixed(1)}, undo ${median(undoMs).toFixed(1)}, redo ${median(redoMs).toFixed(1)}; all undone → empty: ${empty}`);
await browser.close();
await server.close();
