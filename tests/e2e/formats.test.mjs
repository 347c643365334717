// Scans people have, in the page: a DICOM folder (many files at once, with a second series among
// them: the page asks which), a .zip of it, MedSAM on the DICOM scan and a saved label map on the
// grid dcm2niix writes; an MGZ with labels painted and saved in its own format, read back by nibabel.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { openScanFiles, openSession, readNifti, ROOT, SHARED, untilOpened } from './harness.mjs';

const TMP = mkdtempSync(join(tmpdir(), 'medseg-formats-'));
const SERIES = join(SHARED, 'data/ct/example_ct_dicom');
const SEG = 'ct/example_seg_dicom.nii.gz';
const NIBABEL = JSON.parse(readFileSync(join(ROOT, 'tests/reference/nibabel.json'), 'utf8')).cases;
const MR = join(ROOT, 'tests/data/public/pydicom/data/test_files/MR_small.dcm');
const MGZ = join(ROOT, 'tests/data/public/nibabel/tests/data/test.mgz');
let session;
let page;

before(async () => {
  session = await openSession({ width: 1400, height: 1000 });
  ({ page } = session);
});

after(async () => {
  assert.deepEqual(await session.close(), [], 'every request stays on the page origin');
});

function skipWithoutSeries(t) {
  const ready = existsSync(SERIES) && existsSync(join(ROOT, 'models/litemedsam/medsam.json'));
  if (!ready && process.env.MEDSEG_REQUIRE_SHARED === '1') assert.fail(`${SERIES} or models/litemedsam is missing`);
  if (!ready) t.skip('needs ../shared/data/ct/example_ct_dicom and models/litemedsam');
  return !ready;
}

const seriesFiles = () => readdirSync(SERIES).sort().map((f) => join(SERIES, f));

function assertAffine(actual, expected, what) {
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 4; c++) assert.ok(Math.abs(actual[r][c] - expected[r][c]) < 1e-3, `${what}: affine[${r}][${c}] ${actual[r][c]} vs ${expected[r][c]}`);
  }
}

/** The voxel→world affine of a NIfTI header read by nifti-reader-js (sform). */
const sform = (header) => header.affine.map((row) => row.map(Number));

test('a DICOM folder with a second series: the page asks which, opens the CT as dcm2niix does, MedSAM segments it, the saved labels overlay it', async (t) => {
  if (skipWithoutSeries(t)) return;
  await page.setInputFiles('#open-scan', [...seriesFiles(), MR]);
  await page.waitForSelector('#series-picker:not([hidden]) button');
  const choices = await page.$$eval('#series-picker div button', (bs) => bs.map((b) => b.textContent));
  assert.equal(choices.length, 2, choices.join(' | '));
  const ct = choices.findIndex((c) => c.includes('CT') && c.includes('20 slices'));
  assert.ok(ct >= 0, choices.join(' | '));
  await untilOpened(page, () => page.click(`#series-picker div:nth-of-type(${ct + 1}) button`));
  assert.equal(await page.isHidden('#message'), true, await page.textContent('#message'));
  assert.equal((await page.textContent('#scan-dims')).trim(), '512 × 512 × 20');
  assert.equal((await page.textContent('#scan-orientation')).trim(), NIBABEL[SEG].orientation);
  await page.screenshot({ path: join(ROOT, 'tests/e2e/screenshots/dicom.png') });

  // MedSAM: a box on axial slice 10 around the middle of the body.
  await page.evaluate(() => window.medsegBoxTool.segmentBox(2, 10, [180, 180, 330, 330]));
  await page.waitForFunction(() => document.body.dataset.medsamBoxes === '1' || !document.getElementById('message').hidden);
  assert.equal(await page.isHidden('#message'), true, await page.textContent('#message'));
  const [download] = await Promise.all([
    page.waitForEvent('download', { predicate: (d) => d.suggestedFilename().endsWith('.nii.gz') }),
    page.click('#save-overlay'),
  ]);
  const saved = join(TMP, 'dicom_labels.nii.gz');
  await download.saveAs(saved);
  const labels = readNifti(saved);
  assert.deepEqual(labels.dims, NIBABEL[SEG].dims, 'the label map has the grid of dcm2niix\'s conversion');
  assertAffine(sform(labels.header), NIBABEL[SEG].affine, 'saved label map vs example_seg_dicom.nii.gz');
  const inside = labels.values.reduce((n, v) => n + (v !== 0), 0);
  assert.ok(inside > 500, `MedSAM labelled ${inside} voxels`);
});

test('"Open folder…" with the DICOM folder opens its one series', async (t) => {
  if (skipWithoutSeries(t)) return;
  await untilOpened(page, () => page.setInputFiles('#open-folder', SERIES));
  assert.equal(await page.isHidden('#message'), true, await page.textContent('#message'));
  assert.equal((await page.textContent('#scan-dims')).trim(), '512 × 512 × 20');
  assert.equal(await page.isHidden('#series-picker'), true, 'one series: no question');
});

test('a .zip of the DICOM folder opens the same scan', async (t) => {
  if (skipWithoutSeries(t)) return;
  const zip = join(TMP, 'study.zip');
  execFileSync('python3', ['-c', `import sys, zipfile, os
with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:
    for f in sorted(os.listdir(sys.argv[2])): z.write(os.path.join(sys.argv[2], f), 'study/' + f)`, zip, SERIES]);
  await openScanFiles(page, [zip]);
  assert.equal(await page.isHidden('#message'), true, await page.textContent('#message'));
  assert.equal((await page.textContent('#scan-dims')).trim(), '512 × 512 × 20');
  assert.match(await page.textContent('#scan-name'), /study\.zip/);
});

test('an MGZ opens as nibabel reads it; labels painted on it save as .mgz that nibabel overlays on it', async () => {
  await openScanFiles(page, [MGZ]);
  assert.equal(await page.isHidden('#message'), true, await page.textContent('#message'));
  assert.equal((await page.textContent('#scan-dims')).trim(), '3 × 4 × 5 × 2');
  await page.evaluate(() => { window.medsegEdit.setLabel(3); window.medsegEdit.select('brush'); window.medsegEdit.setRadius(0.1); });
  const xy = await page.evaluate(() => { window.medsegViewer.setVoxel([1, 2, 3]); return window.medsegViewer.screenOf('axial', [1, 2, 3]); });
  await page.mouse.click(...xy);
  assert.equal(await page.isHidden('#save-format'), false, 'the scan\'s own format is offered');
  await page.selectOption('#save-format', 'mgz');
  const [download] = await Promise.all([
    page.waitForEvent('download', { predicate: (d) => d.suggestedFilename().endsWith('.mgz') }),
    page.click('#save-overlay'),
  ]);
  const saved = join(TMP, 'labels.mgz');
  await download.saveAs(saved);
  const check = JSON.parse(execFileSync('python3', ['-c', `import sys, json, nibabel as nib, numpy as np
scan, labels = nib.load(sys.argv[1]), nib.load(sys.argv[2])
d = np.asanyarray(labels.dataobj)
print(json.dumps({"shape": list(d.shape), "max_affine_diff": float(np.abs(scan.affine - labels.affine).max()),
  "where": [int(v) for v in np.argwhere(d == 3)[0]], "count": int((d != 0).sum())}))`, MGZ, saved], { encoding: 'utf8' }));
  assert.deepEqual(check.shape, [3, 4, 5]);
  assert.ok(check.max_affine_diff < 1e-4, `affines differ by ${check.max_affine_diff}`);
  assert.deepEqual(check.where, [1, 2, 3]);
  assert.equal(check.count, 1);
});
