// The Box (MedSAM) tool in the page: a box dragged on the axial view around the liver gives the
// same slice mask as `medseg medsam`, and a second box on that slice costs only the decoder.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { dragMedsamBox, openScanFiles, openSession, MEDSEG_BIN as BIN, ROOT, SHARED, readNifti } from './harness.mjs';

const TMP = mkdtempSync(join(tmpdir(), 'medseg-medsam-'));
const SCAN = join(SHARED, 'data/ct/example_ct.nii.gz');
const SEG = join(SHARED, 'data/ct/example_seg_fast_force_split.nii.gz');
const K = 106;
const LIVER = 5;
let session;
let page;

before(async () => {
  session = await openSession({ width: 1500, height: 900 });
  ({ page } = session);
});

after(async () => {
  assert.deepEqual(await session.close(), [], 'every request stays on the page origin');
});

function skipWithoutData(t) {
  const ready = existsSync(SCAN) && existsSync(SEG) && existsSync(join(ROOT, 'models/litemedsam/medsam.json'));
  if (!ready && process.env.MEDSEG_REQUIRE_SHARED === '1') assert.fail(`${SCAN}, ${SEG} or models/litemedsam is missing`);
  if (!ready) t.skip('needs ../shared/data/ct and models/litemedsam');
  return !ready;
}

/** The box [x0 = first column j, y0 = first row i, x1, y1] of `label` on axial slice k. */
function boundingBox({ dims, values }, label, k) {
  let [i0, j0, i1, j1] = [Infinity, Infinity, -1, -1];
  for (let j = 0; j < dims[1]; j++) {
    for (let i = 0; i < dims[0]; i++) {
      if (values[i + dims[0] * (j + dims[1] * k)] !== label) continue;
      [i0, i1, j0, j1] = [Math.min(i0, i), Math.max(i1, i), Math.min(j0, j), Math.max(j1, j)];
    }
  }
  assert.ok(i1 >= 0, `label ${label} is on slice ${k}`);
  return [j0, i0, j1, i1];
}

/** Drags a box on the axial view from voxel (i0, j0, k) to (i1, j1, k); resolves when the overlay is back. */
function dragBox([x0, y0, x1, y1]) {
  return dragMedsamBox(page, [y0, x0, K], [y1, x1, K]);
}

test('a box on the liver gives the CLI mask, and a second box costs only the decoder', async (t) => {
  if (skipWithoutData(t)) return;
  const box = boundingBox(readNifti(SEG), LIVER, K);
  await openScanFiles(page, [SCAN]);
  assert.equal(await page.inputValue('#window-preset'), 'ct-soft', 'the soft-tissue window (−160…240) is the default for CT');
  await page.selectOption('#layout', 'axial');
  await page.evaluate(([j, i, k]) => window.medsegViewer.setVoxel([i, j, k]), [box[0], box[1], K]);
  await page.check('#box-tool');

  const first = await dragBox(box);
  assert.equal(first.medsamEncoded, '0', 'the first box encodes the slice');
  await page.screenshot({ path: join(ROOT, 'tests/e2e/screenshots/medsam_liver.png') });

  // The page's mask against the CLI's on that slice.
  const download = page.waitForEvent('download');
  await page.click('#save-overlay');
  const saved = join(TMP, 'page.nii.gz');
  await (await download).saveAs(saved);
  const native = join(TMP, 'native.nii.gz');
  execFileSync(BIN, ['medsam', SCAN, '--box', box.join(','), '--slice', `2:${K}`, '--window', '-160,240', '-o', native], { stdio: 'pipe' });
  const a = readNifti(saved);
  const b = readNifti(native);
  assert.deepEqual(a.dims, b.dims);
  const plane = a.dims[0] * a.dims[1];
  let equal = 0;
  let inside = 0;
  for (let p = K * plane; p < (K + 1) * plane; p++) {
    if ((a.values[p] !== 0) === (b.values[p] !== 0)) equal++;
    if (a.values[p]) inside++;
  }
  assert.ok(inside > 100, `the mask covers the liver (${inside} pixels)`);
  assert.ok(equal / plane >= 0.999, `page vs CLI on slice ${K}: ${plane - equal} of ${plane} pixels differ`);
  const rows = await page.$$eval('#label-table tbody tr', (trs) => trs.map((tr) => tr.cells[2].textContent.trim()));
  assert.deepEqual(rows, ['object 1']);

  // A slightly smaller box on the same slice: the cached embedding, decoder only.
  const second = await dragBox([box[0] + 1, box[1] + 1, box[2] - 1, box[3] - 1]);
  assert.equal(second.medsamEncoded, '1', 'the second box reuses the embedding');
  console.log(`first box ${first.medsamMs} ms in the worker (${first.medsamTotalMs} ms box → overlay); second ${second.medsamMs} ms (${second.medsamTotalMs} ms)`);
  assert.ok(Number(second.medsamMs) * 3 < Number(first.medsamMs), `decoder only is much faster: ${second.medsamMs} vs ${first.medsamMs} ms`);

  // Accept names the object; Undo removes it again.
  await page.fill('#object-name', 'liver');
  await page.dispatchEvent('#object-name', 'change');
  await page.click('#accept-object');
  assert.deepEqual(await page.$$eval('#label-table tbody tr', (trs) => trs.map((tr) => tr.cells[2].textContent.trim())), ['liver']);
  await page.click('#undo-object');
  assert.deepEqual(await page.$$eval('#label-table tbody tr', (trs) => trs.map((tr) => tr.cells[2].textContent.trim())), []);
});

test('Propagate through the volume fills the chosen slices with progress, and Cancel stops it', async (t) => {
  if (skipWithoutData(t)) return;
  const box = boundingBox(readNifti(SEG), LIVER, K);
  await dragBox(box); // the slice is encoded already: decoder only
  assert.equal(await page.inputValue('#propagate-last'), '111', 'the range defaults to the whole axis');
  await page.fill('#propagate-first', String(K - 1));
  await page.fill('#propagate-last', String(K + 1));
  await page.click('#propagate');
  await page.waitForSelector('#propagate-progress:not([hidden])');
  await page.waitForFunction(() => document.body.dataset.medsamPropagated === '3');
  const perSlice = await page.evaluate(([k]) => {
    const { values } = window.medsegViewer.overlay;
    const plane = 122 * 101;
    return [k - 1, k, k + 1].map((s) => values.subarray(s * plane, (s + 1) * plane).reduce((n, v) => n + (v ? 1 : 0), 0));
  }, [K]);
  assert.ok(perSlice.every((n) => n > 100), `each slice of the range has the liver: ${perSlice}`);
  assert.equal(await page.evaluate(() => window.medsegViewer.overlay.values.reduce((n, v) => n + (v ? 1 : 0), 0)), perSlice.reduce((a, b) => a + b));

  // The whole axis would take minutes: Cancel stops it and leaves the page usable.
  await page.fill('#propagate-first', '0');
  await page.fill('#propagate-last', '111');
  await page.click('#propagate');
  await page.waitForSelector('#cancel-propagate:not([hidden])');
  await page.click('#cancel-propagate');
  await page.waitForFunction(() => document.getElementById('medsam-result').textContent === 'Cancelled.');
  assert.equal(await page.isHidden('#propagate-progress'), true);
  assert.equal(await page.isEnabled('#propagate'), true);
});
