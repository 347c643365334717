// The page in headless Chromium: opening real scans, geometry shown, values under the crosshair,
// overlays with volumes, saving, errors, and no request leaving the page's origin.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { openSession, MEDSEG_BIN, ROOT, SHARED } from './harness.mjs';

const reference = JSON.parse(readFileSync(join(ROOT, 'tests/reference/nibabel.json'), 'utf8')).cases;
const SHOTS = join(ROOT, 'tests/e2e/screenshots');
mkdirSync(SHOTS, { recursive: true });
const TMP = mkdtempSync(join(tmpdir(), 'medseg-e2e-'));
const requireShared = process.env.MEDSEG_REQUIRE_SHARED === '1';

let session;
let server;
let page;

/** Path of a scan under ../shared/data, or null (test skipped) when ../shared is absent. */
function shared(t, relative) {
  const path = join(SHARED, 'data', relative);
  if (existsSync(path)) return path;
  if (requireShared) assert.fail(`${path} is missing and MEDSEG_REQUIRE_SHARED=1`);
  t.skip(`${path} is absent`);
  return null;
}

before(async () => {
  session = await openSession();
  ({ server, page } = session);
});

after(async () => {
  assert.deepEqual(await session.close(), [], 'every request stays on the page origin');
});

async function openScan(paths) {
  await page.evaluate(() => { document.getElementById('message').hidden = true; });
  const before = await page.evaluate(() => document.body.dataset.firstSliceMs ?? '');
  await page.setInputFiles('#open-scan', paths);
  await page.waitForFunction(
    (b) => (document.body.dataset.firstSliceMs ?? '') !== b || !document.getElementById('message').hidden,
    before,
  );
}

async function text(selector) {
  return (await page.textContent(selector)).trim();
}

async function gotoVoxel(ijk) {
  await page.fill('#cursor-voxel', ijk.join(' '));
  await page.press('#cursor-voxel', 'Enter');
}

/** World coordinates (mm) of the crosshair as the page shows them. */
async function world() {
  return (await text('#cursor-world')).replace(' mm', '').split(',').map(Number);
}

/** Fraction of non-black pixels and their spread in every visible view canvas. */
async function canvasStats() {
  return page.evaluate(() =>
    [...document.querySelectorAll('.view:not([hidden]) canvas')].map((c) => {
      const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
      let lit = 0;
      const seen = new Set();
      for (let i = 0; i < data.length; i += 4) {
        if (data[i] + data[i + 1] + data[i + 2] > 30) lit++;
        seen.add(data[i]);
      }
      return { lit: lit / (data.length / 4), levels: seen.size };
    }),
  );
}

/** Click in a view at an offset (px) from its centre; returns the world coordinates after. */
async function clickView(view, dx, dy) {
  const box = await page.locator(`.view[data-view=${view}] canvas`).boundingBox();
  await page.mouse.click(box.x + box.width / 2 + dx, box.y + box.height / 2 + dy);
  return world();
}

const SCANS = [
  'brain/norm.nii.gz',
  'ct/example_ct.nii.gz',
  'brain/FLAIR.nii.gz',
  'nifti-cases/AIL.nii.gz',
  'nifti-cases/avg152T1_RL_nifti.nii.gz',
  'nifti-cases/pcasl.nii.gz',
];

for (const name of SCANS) {
  test(`opens ${name}: dims, orientation, values and world directions as nibabel`, async (t) => {
    const path = shared(t, name);
    if (!path) return;
    const expected = reference[name];
    await openScan([path]);
    assert.equal(await page.isHidden('#message'), true, await text('#message'));
    assert.equal(await text('#scan-dims'), expected.dims.join(' × '));
    assert.equal(await text('#scan-orientation'), expected.orientation);
    for (const probe of expected.probes) {
      await gotoVoxel(probe.ijk);
      const shown = Number(await text('#cursor-value'));
      assert.ok(Math.abs(shown - probe.value) <= 1e-4 * Math.max(1, Math.abs(probe.value)), `value at ${probe.ijk}: page ${shown}, nibabel ${probe.value}`);
    }
    // World orientation: in the axial view the patient's right is on the screen's left and
    // anterior is up; in the coronal view superior is up — whatever the voxel order on disk.
    const centre = expected.dims.slice(0, 3).map((n) => Math.floor(n / 2));
    await gotoVoxel(centre);
    const [leftX] = await clickView('axial', -25, 0);
    const [rightX] = await clickView('axial', 25, 0);
    assert.ok(leftX > rightX, `axial: screen left is patient right (x ${leftX} > ${rightX})`);
    const [, upY] = await clickView('axial', 0, -25);
    const [, downY] = await clickView('axial', 0, 25);
    assert.ok(upY > downY, `axial: up is anterior (y ${upY} > ${downY})`);
    const [, , upZ] = await clickView('coronal', 0, -25);
    const [, , downZ] = await clickView('coronal', 0, 25);
    assert.ok(upZ > downZ, `coronal: up is superior (z ${upZ} > ${downZ})`);
    const edges = await page.locator('.view[data-view=axial] .edge').allTextContents();
    assert.deepEqual(edges, ['R', 'L', 'A', 'P']);
    // Neurological convention mirrors left–right only.
    await page.selectOption('#convention', 'neurological');
    await gotoVoxel(centre);
    const [neuroLeftX] = await clickView('axial', -25, 0);
    const [neuroRightX] = await clickView('axial', 25, 0);
    assert.ok(neuroLeftX < neuroRightX, `neurological: screen left is patient left (x ${neuroLeftX} < ${neuroRightX})`);
    assert.deepEqual(await page.locator('.view[data-view=coronal] .edge').allTextContents(), ['L', 'R', 'S', 'I']);
    await page.selectOption('#convention', 'radiological');
    await gotoVoxel(centre);
    for (const { lit, levels } of await canvasStats()) {
      assert.ok(lit > 0.03 && levels > 8, `a view is blank (lit ${lit}, ${levels} grey levels)`);
    }
    await page.screenshot({ path: join(SHOTS, name.replace(/\//g, '_') + '.png') });
  });
}

test('a 4D file offers its volumes', async (t) => {
  const path = shared(t, 'nifti-cases/pcasl.nii.gz');
  if (!path) return;
  await openScan([path]);
  assert.equal(await page.isVisible('#volume-picker'), true);
  await gotoVoxel([26, 34, 10]);
  const first = await text('#cursor-value');
  await page.fill('#volume-index', '9');
  await page.dispatchEvent('#volume-index', 'change');
  await page.waitForFunction((v) => document.getElementById('cursor-value').textContent !== v, first);
  assert.notEqual(await text('#cursor-value'), first);
});

test('label map overlay: table volumes are count × voxel volume; saved file is identical', async (t) => {
  const ct = shared(t, 'ct/example_ct.nii.gz');
  const seg = shared(t, 'ct/example_seg_fast_force_split.nii.gz');
  if (!ct || !seg) return;
  await openScan([ct]);
  const sidecar = join(TMP, 'example_seg.json');
  writeFileSync(sidecar, JSON.stringify({ labels: [{ value: 5, name: 'liver <script>alert(1)</script>', rgb: [200, 100, 50] }] }));
  await page.setInputFiles('#open-overlay', [seg, sidecar]);
  await page.waitForSelector('#label-table tbody tr');
  const rows = await page.$$eval('#label-table tbody tr', (trs) =>
    trs.map((tr) => ({ value: Number(tr.dataset.value), count: Number(tr.dataset.count), name: tr.cells[2].textContent, ml: Number(tr.cells[4].textContent) })),
  );
  const expected = reference['ct/example_seg_fast_force_split.nii.gz'].label_counts;
  assert.equal(rows.length, Object.keys(expected).length);
  for (const row of rows) {
    assert.equal(row.count, expected[row.value], `voxels of label ${row.value}`);
    assert.equal(row.ml, Number(((row.count * 27) / 1000).toFixed(2)), `mL of label ${row.value}`);
  }
  assert.equal(rows.find((r) => r.value === 5).name, 'liver <script>alert(1)</script>', 'names are shown as text');
  await gotoVoxel([61, 50, 56]);
  await page.screenshot({ path: join(SHOTS, 'ct_overlay.png') });

  // Saving produces a .nii.gz and a .json download.
  const downloads = [];
  const both = page.waitForEvent('download', { predicate: (d) => downloads.push(d) === 2 });
  await page.click('#save-overlay');
  await both;
  const niiDownload = downloads.find((d) => d.suggestedFilename().endsWith('.nii.gz'));
  const jsonDownload = downloads.find((d) => d.suggestedFilename().endsWith('.json'));
  const saved = join(TMP, niiDownload.suggestedFilename());
  await niiDownload.saveAs(saved);
  const savedJson = JSON.parse(readFileSync(await jsonDownload.path(), 'utf8'));
  assert.deepEqual(savedJson.labels.find((l) => l.value === 5), { value: 5, name: 'liver <script>alert(1)</script>', rgb: [200, 100, 50] });
  // Read back natively: same voxels, same affine (medseg compare exits non-zero otherwise).
  const report = execFileSync(MEDSEG_BIN, ['compare', saved, seg], { encoding: 'utf8' });
  assert.match(report, /voxels differing 0 of/);
});

test('bad files give a visible error and the app stays usable', async (t) => {
  const good = shared(t, 'nifti-cases/low_res.nii.gz');
  const ct = shared(t, 'ct/example_ct.nii.gz');
  if (!good || !ct) return;
  await openScan([good]);
  const truncated = join(TMP, 'truncated.nii.gz');
  const bytes = readFileSync(ct);
  writeFileSync(truncated, bytes.subarray(0, bytes.length >> 1));
  const text_ = join(TMP, 'notes.nii');
  writeFileSync(text_, 'These are not voxels.\n'.repeat(40));
  for (const [file, words] of [[truncated, /truncated/], [text_, /not a scan file medseg reads/]]) {
    await openScan([file]);
    assert.equal(await page.isVisible('#message'), true);
    assert.match(await text('#message'), words);
    assert.equal(await text('#scan-name'), 'low_res.nii.gz', 'the previous scan stays loaded');
  }
  await page.screenshot({ path: join(SHOTS, 'error.png') });
  await openScan([ct]);
  assert.equal(await page.isHidden('#message'), true);
  assert.equal(await text('#scan-name'), 'example_ct.nii.gz');
});

const SAMPLE = join(ROOT, 'www/sample/mni152_t1.nii.gz');
/** A label map on the sample's grid (scripts/setup.sh sample). */
const SAMPLE_LABELS = join(ROOT, 'www/examples/cases/mni152_intensity.nii.gz');

/** Opens a label map (and its JSON); waits until its table shows or a message does. */
async function openOverlay(paths) {
  await page.evaluate(() => {
    document.getElementById('message').hidden = true;
    document.querySelector('#label-table tbody').replaceChildren();
  });
  await page.setInputFiles('#open-overlay', paths);
  await page.waitForFunction(() => document.querySelector('#label-table tbody tr') || !document.getElementById('message').hidden);
}

/** The scan workers the page starts from now on, each with a promise that resolves when it ends. */
function watchScanWorkers() {
  const workers = [];
  page.on('worker', (worker) => {
    if (worker.url().endsWith('/workers/scan.js')) workers.push({ ended: new Promise((resolve) => worker.on('close', resolve)) });
  });
  return workers;
}

/** Whether `promise` has settled (after the page's pending events have been delivered here). */
async function settled(promise) {
  return Promise.race([promise.then(() => true), page.evaluate(() => false)]);
}

test('a file that fails to open ends its worker; the scan open before stays usable and the next file opens in a fresh worker', async () => {
  const workers = watchScanWorkers();
  await openScan([SAMPLE]);
  assert.equal(await page.isHidden('#message'), true, await text('#message'));
  const corrupt = join(TMP, 'x.nii.gz');
  writeFileSync(corrupt, randomBytes(3 << 20));
  await openScan([corrupt]);
  assert.match(await text('#message'), /^Could not open x\.nii\.gz: /);
  assert.equal(await text('#scan-name'), 'mni152_t1.nii.gz', 'the previous scan stays loaded');
  assert.equal(workers.length, 2);
  await workers[1].ended; // the worker that failed is gone, and the memory it grew with it
  assert.equal(await settled(workers[0].ended), false, 'the worker of the open scan is kept');
  // The open scan's worker still answers: a label map on its grid opens.
  await openOverlay([SAMPLE_LABELS]);
  assert.equal(await page.isHidden('#message'), true, await text('#message'));
  // The next file opens in a fresh worker, which replaces the one of the scan before.
  await openScan([join(ROOT, 'www/examples/cases/mni152_t1_2mm.nii.gz')]);
  assert.equal(await page.isHidden('#message'), true, await text('#message'));
  assert.equal(await text('#scan-dims'), '98 × 116 × 94');
  assert.equal(workers.length, 3);
  await workers[0].ended;
});

test('a label sidecar with a value outside 0–65535 is refused with a clear message and the viewer keeps drawing', async () => {
  const errors = [];
  const onError = (e) => errors.push(e.message);
  page.on('pageerror', onError);
  await openScan([SAMPLE]);
  const sidecar = join(TMP, 'mni152_intensity.json');
  writeFileSync(sidecar, JSON.stringify({ labels: [{ value: 1, name: 'dark', rgb: [0, 0, 255] }, { value: 70000, name: 'too big', rgb: [255, 0, 0] }] }));
  await openOverlay([SAMPLE_LABELS, sidecar]);
  assert.match(await text('#message'), /mni152_intensity\.json: labels\[1\] has the value 70000, but label values run from 0 to 65535/);
  assert.equal(await page.$$eval('#label-table tbody tr', (rows) => rows.length), 0, 'no overlay from the refused table');
  // The viewer keeps drawing: moving the crosshair and a new window redraw without errors.
  await gotoVoxel([98, 116, 94]);
  await page.selectOption('#window-preset', 'full');
  for (const { lit } of await canvasStats()) assert.ok(lit > 0.03, `a view is blank (lit ${lit})`);
  // The label map with a table in range opens.
  writeFileSync(sidecar, JSON.stringify({ labels: [{ value: 1, name: 'dark', rgb: [0, 0, 255] }, { value: 65535, name: 'last', rgb: [255, 0, 0] }] }));
  await openOverlay([SAMPLE_LABELS, sidecar]);
  assert.equal(await page.isHidden('#message'), true, await text('#message'));
  assert.equal(await page.$eval('#label-table tbody tr[data-value="65535"]', (tr) => tr.cells[2].textContent), 'last');
  await page.fill('#opacity', '0.8');
  page.off('pageerror', onError);
  assert.deepEqual(errors, []);
});

test('a .hdr/.img pair dropped together opens', async (t) => {
  const path = shared(t, 'nifti-cases/low_res.nii.gz');
  if (!path) return;
  const nii = (await import('node:zlib')).gunzipSync(readFileSync(path));
  const hdr = Buffer.from(nii.subarray(0, 348));
  hdr.write('ni1\0', 344, 'latin1');
  hdr.writeFloatLE(0, 108);
  writeFileSync(join(TMP, 'pair.hdr'), hdr);
  writeFileSync(join(TMP, 'pair.img'), nii.subarray(352));
  await openScan([join(TMP, 'pair.hdr'), join(TMP, 'pair.img')]);
  assert.equal(await text('#scan-dims'), '7 × 5 × 3');
  await openScan([join(TMP, 'pair.hdr')]);
  assert.match(await text('#message'), /together with its \.img/);
});

test('?scan= opens a same-origin scan and refuses others; the sample loads', async () => {
  const sample = join(ROOT, 'www/sample/mni152_t1.nii.gz');
  assert.ok(existsSync(sample), 'the sample is installed by scripts/setup.sh sample');
  await page.goto(server.origin + '/?scan=sample/mni152_t1.nii.gz');
  await page.waitForFunction(() => document.body.dataset.state === 'ready');
  assert.equal(await text('#scan-dims'), '197 × 233 × 189');
  assert.equal(await text('#scan-orientation'), 'RAS');
  await page.goto(server.origin + '/?scan=http://192.0.2.1/x.nii.gz');
  await page.waitForSelector('#message:not([hidden])');
  assert.match(await text('#message'), /only scans from this site/);
  await page.goto(server.origin + '/');
  await page.click('#load-sample');
  await page.waitForFunction(() => document.body.dataset.state === 'ready');
  await page.selectOption('#layout', 'axial');
  await page.screenshot({ path: join(SHOTS, 'sample_axial.png') });
  assert.equal(await page.isHidden('.view[data-view=coronal]'), true);
});
