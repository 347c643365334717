// Editing, measuring and comparing in the page: a brush disc or sphere of a radius in mm gives
// exactly the voxels whose centres lie within that distance through nibabel's affine (on a sheared,
// anisotropic scan); eraser, fill, undo and redo restore exactly; the ruler equals nibabel's world
// distance; statistics equal the file's values; Dice/HD95 in the page equal `medseg eval`; and
// <medseg-viewer editable reference=…> does the same with its `edited` and `compared` events.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, mkdirSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { launch, newContext, openScanFiles, openSession, serve, MEDSEG_BIN as BIN, ROOT, SHARED, WWW, readNifti } from './harness.mjs';

const TMP = mkdtempSync(join(tmpdir(), 'medseg-edit-'));
const NIBABEL = JSON.parse(readFileSync(join(ROOT, 'tests/reference/nibabel.json'), 'utf8')).cases;
const SHEAR = 'nifti-cases/shear.nii.gz'; // 306×422×54, 0.48 × 0.48 × 2.37 mm, sheared
const AIL = 'nifti-cases/AIL.nii.gz'; // oblique, AIL
const CT = 'ct/example_ct.nii.gz';
const CT_SEG = 'ct/example_seg_fast_force_split.nii.gz';
let session;
let page;

before(async () => {
  session = await openSession({ width: 1400, height: 1000 });
  ({ page } = session);
});

after(async () => {
  assert.deepEqual(await session.close(), [], 'every request stays on the page origin');
});

function skipWithout(t, ...cases) {
  const missing = cases.filter((c) => !existsSync(join(SHARED, 'data', c)));
  if (missing.length && process.env.MEDSEG_REQUIRE_SHARED === '1') assert.fail(`missing ${missing.join(', ')}`);
  if (missing.length) t.skip(`needs ${missing.join(', ')} in ../shared/data`);
  return missing.length > 0;
}

/**
 * The voxels within `radius` mm of voxel `c` (centre to centre, through nibabel's `affine`),
 * moving only along voxel `axes`: the expected brush, computed here independently of the page.
 */
function ball(dims, affine, c, radius, axes) {
  const out = new Set();
  const reach = 80;
  const range = (a) => (axes.includes(a) ? [-reach, reach] : [0, 0]);
  const [[x0, x1], [y0, y1], [z0, z1]] = [0, 1, 2].map(range);
  for (let dz = z0; dz <= z1; dz++) {
    for (let dy = y0; dy <= y1; dy++) {
      for (let dx = x0; dx <= x1; dx++) {
        const p = [c[0] + dx, c[1] + dy, c[2] + dz];
        if (p.some((v, k) => v < 0 || v >= dims[k])) continue;
        const w = [0, 1, 2].map((r) => affine[r][0] * dx + affine[r][1] * dy + affine[r][2] * dz);
        if (Math.hypot(...w) <= radius + 1e-9) out.add(p[0] + dims[0] * (p[1] + dims[1] * p[2]));
      }
    }
  }
  return out;
}

/** The voxel indices holding `value` in `values`. */
function where(values, value) {
  const out = new Set();
  values.forEach((v, i) => v === value && out.add(i));
  return out;
}

function assertSameSet(actual, expected, what) {
  const missing = [...expected].filter((i) => !actual.has(i));
  const extra = [...actual].filter((i) => !expected.has(i));
  assert.ok(missing.length === 0 && extra.length === 0, `${what}: ${missing.length} voxels missing, ${extra.length} extra (of ${expected.size})`);
}

async function open(file) {
  await openScanFiles(page, [join(SHARED, 'data', file)]);
  assert.equal(await page.isHidden('#message'), true, await page.textContent('#message'));
}

/** Clicks (or drags from `ijk` to `to`) with the current tool on a view at voxel centres. */
async function drag(view, ijk, to = ijk) {
  const [a, b] = await page.evaluate(([v, p, q]) => [window.medsegViewer.screenOf(v, p), window.medsegViewer.screenOf(v, q)], [view, ijk, to]);
  await page.mouse.move(...a);
  await page.mouse.down();
  await page.mouse.move(...b, { steps: 4 });
  await page.mouse.up();
}

/** Saves the label map and returns its {dims, values} as read back from the file. */
async function saved(name) {
  const [download] = await Promise.all([
    page.waitForEvent('download', { predicate: (d) => d.suggestedFilename().endsWith('.nii.gz') }),
    page.click('#save-overlay'),
  ]);
  const path = join(TMP, name);
  await download.saveAs(path);
  return { path, ...readNifti(path) };
}

test('brush disc and sphere of a radius in mm, eraser, fill, undo/redo: exactly the voxels expected from nibabel\'s affine', async (t) => {
  if (skipWithout(t, SHEAR)) return;
  await open(SHEAR);
  const { dims, affine } = NIBABEL[SHEAR];
  await page.selectOption('#layout', 'axial');
  const C = [150, 200, 27];
  await page.evaluate((c) => window.medsegViewer.setVoxel(c), C);
  const sliceAxis = await page.evaluate(() => window.medsegViewer.sliceAxis('axial'));
  const inPlane = [0, 1, 2].filter((a) => a !== sliceAxis);

  // A disc of 3 mm in the axial slice: the scan has no overlay yet, so painting creates one.
  await page.keyboard.press('Escape'); // focus stays on the page
  await page.evaluate(() => { window.medsegEdit.select('brush'); window.medsegEdit.setRadius(3); window.medsegEdit.setShape('disc'); });
  await drag('axial', C);
  const disc = ball(dims, affine, C, 3, inPlane);
  assert.ok(disc.size > 100, `a 3 mm disc at 0.48 mm spacing holds ${disc.size} voxels`);
  let file = await saved('disc.nii.gz');
  assert.deepEqual(file.dims, dims);
  assertSameSet(where(file.values, 1), disc, 'disc');
  assert.equal(where(file.values, 0).size, file.values.length - disc.size, 'nothing else painted');
  assert.equal(Number(await page.getAttribute('#label-table tbody tr[data-value="1"]', 'data-count')), disc.size);

  // The eraser (key E) with 1.5 mm at the same centre leaves a ring.
  await page.focus('#viewer');
  await page.keyboard.press('e');
  assert.equal(await page.evaluate(() => window.medsegEdit.tool), 'eraser');
  await page.evaluate(() => window.medsegEdit.setRadius(1.5));
  await drag('axial', C);
  const hole = ball(dims, affine, C, 1.5, inPlane);
  const ring = new Set([...disc].filter((i) => !hole.has(i)));
  file = await saved('ring.nii.gz');
  assertSameSet(where(file.values, 1), ring, 'ring');

  // Fill the hole with a new label 2: bounded by the ring, within the slice.
  await page.evaluate(() => { window.medsegEdit.addLabel(2); window.medsegEdit.select('fill'); });
  await drag('axial', C);
  file = await saved('filled.nii.gz');
  assertSameSet(where(file.values, 2), hole, 'filled hole');
  assertSameSet(where(file.values, 1), ring, 'ring kept');

  // Undo twice (fill, eraser) with Ctrl+Z gives the disc back exactly; redo twice the filled ring.
  await page.focus('#viewer');
  await page.keyboard.press('Control+z');
  await page.keyboard.press('Control+z');
  file = await saved('undone.nii.gz');
  assertSameSet(where(file.values, 1), disc, 'disc after undo');
  assert.equal(where(file.values, 2).size, 0);
  await page.keyboard.press('Control+Shift+z');
  await page.keyboard.press('Control+y');
  file = await saved('redone.nii.gz');
  assertSameSet(where(file.values, 1), ring, 'ring after redo');
  assertSameSet(where(file.values, 2), hole, 'hole after redo');

  // A 5 mm sphere (3D brush) of label 3 elsewhere: ±2 slices at 2.37 mm, ±10 voxels in plane.
  const S = [100, 120, 20];
  await page.evaluate((s) => { window.medsegViewer.setVoxel(s); window.medsegEdit.addLabel(3); window.medsegEdit.select('brush'); window.medsegEdit.setRadius(5); window.medsegEdit.setShape('sphere'); }, S);
  await drag('axial', S);
  const sphere = ball(dims, affine, S, 5, [0, 1, 2]);
  file = await saved('sphere.nii.gz');
  assertSameSet(where(file.values, 3), sphere, 'sphere');
  const slices = new Set([...sphere].map((i) => Math.floor(i / (dims[0] * dims[1]))));
  assert.deepEqual([...slices].sort((a, b) => a - b), [18, 19, 20, 21, 22], 'the sphere spans ±5 mm of slices (2.37 mm apart), not ±5 voxels');

  // "Paint over: background only" keeps the labels already there.
  await page.evaluate(() => { window.medsegEdit.addLabel(4); window.medsegEdit.setRadius(4); window.medsegEdit.setShape('disc'); window.medsegEdit.setLock('background'); });
  await page.evaluate((c) => window.medsegViewer.setVoxel(c), C);
  await drag('axial', C);
  file = await saved('locked.nii.gz');
  assertSameSet(where(file.values, 1), ring, 'ring under the lock');
  assertSameSet(where(file.values, 4), new Set([...ball(dims, affine, C, 4, inPlane)].filter((i) => !disc.has(i))), 'label 4 only on background');
  await page.evaluate(() => window.medsegEdit.setLock('all'));
});

test('the ruler between two voxels equals the world distance through nibabel\'s affine (oblique scan)', async (t) => {
  if (skipWithout(t, AIL)) return;
  await open(AIL);
  const { affine } = NIBABEL[AIL];
  await page.selectOption('#layout', 'coronal');
  const a = [20, 30, 15];
  await page.evaluate((p) => window.medsegViewer.setVoxel(p), a);
  const sliceAxis = await page.evaluate(() => window.medsegViewer.sliceAxis('coronal'));
  const b = [...a];
  b[(sliceAxis + 1) % 3] += 17;
  b[(sliceAxis + 2) % 3] -= 9;
  await page.evaluate(() => window.medsegEdit.select('ruler'));
  await drag('coronal', a, b);
  const world = (p) => [0, 1, 2].map((r) => affine[r][0] * p[0] + affine[r][1] * p[1] + affine[r][2] * p[2] + affine[r][3]);
  const expected = Math.hypot(...world(a).map((v, k) => v - world(b)[k]));
  const shown = Number(await page.getAttribute('.measure-readout', 'data-distance-mm'));
  assert.ok(Math.abs(shown - expected) < 1e-3, `ruler ${shown} mm, nibabel ${expected} mm`);
  assert.match(await page.textContent('.measure-readout'), new RegExp(`Distance: ${expected.toFixed(3)} mm`));
  await page.screenshot({ path: join(ROOT, 'tests/e2e/screenshots/ruler.png') });
});

test('statistics in a box and in a label equal the values of the files; Dice and HD95 in the page equal medseg eval', async (t) => {
  if (skipWithout(t, CT, CT_SEG)) return;
  await open(CT);
  await page.selectOption('#layout', 'axial');
  await page.setInputFiles('#open-overlay', [join(SHARED, 'data', CT_SEG)]);
  await page.waitForSelector('#label-table tbody tr');
  const scan = readNifti(join(SHARED, 'data', CT));
  const seg = readNifti(join(SHARED, 'data', CT_SEG));
  const [nx, ny] = scan.dims;
  const stats = (indices) => {
    const v = indices.map((i) => scan.values[i]);
    const mean = v.reduce((s, x) => s + x, 0) / v.length;
    const sd = Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / (v.length - 1));
    return { voxels: v.length, mean, sd, min: Math.min(...v), max: Math.max(...v) };
  };
  const close = (shown, expected, what) => {
    for (const k of ['voxels', 'mean', 'sd', 'min', 'max']) {
      assert.ok(Math.abs(shown[k] - expected[k]) <= 1e-6 * Math.max(1, Math.abs(expected[k])), `${what} ${k}: page ${shown[k]}, file ${expected[k]}`);
    }
  };
  // A box on axial slice 60 from (30, 40) to (70, 55).
  await page.evaluate(() => window.medsegViewer.setVoxel([50, 50, 60]));
  await page.evaluate(() => window.medsegEdit.select('box'));
  await drag('axial', [30, 40, 60], [70, 55, 60]);
  const box = [];
  for (let j = 40; j <= 55; j++) for (let i = 30; i <= 70; i++) box.push(i + nx * (j + ny * 60));
  const shownBox = await page.evaluate(() => Object.fromEntries(Object.entries(document.querySelector('.measure-readout').dataset).map(([k, v]) => [k, Number(v)])));
  close(shownBox, stats(box), 'box');
  assert.ok(Math.abs(shownBox.ml - (box.length * 27) / 1000) < 1e-9, 'mL of 3 mm voxels');
  // The liver (label 5).
  const liver = [...where(seg.values, 5)];
  const shownLabel = await page.evaluate(() => window.medsegEdit.statsOfLabel(5));
  close(shownLabel, stats(liver), 'liver');

  // Edit: erase a 9 mm sphere in the liver and paint a 6 mm disc of label 5 elsewhere, save; compare with the original.
  await page.evaluate(() => { window.medsegEdit.setLabel(5); window.medsegEdit.setLock(5); window.medsegEdit.select('eraser'); window.medsegEdit.setRadius(9); window.medsegEdit.setShape('sphere'); });
  const middle = liver[Math.floor(liver.length / 2)];
  const centre = [middle % nx, Math.floor(middle / nx) % ny, Math.floor(middle / (nx * ny))];
  await page.evaluate((c) => window.medsegViewer.setVoxel(c), centre);
  await drag('axial', centre);
  await page.evaluate(() => { window.medsegEdit.setLock('background'); window.medsegEdit.select('brush'); window.medsegEdit.setShape('disc'); window.medsegEdit.setRadius(6); window.medsegViewer.setVoxel([30, 30, 60]); });
  await drag('axial', [30, 30, 60]);
  const mine = await saved('edited_ct.nii.gz');
  assert.notEqual(where(mine.values, 5).size, liver.length, 'the liver was edited');
  await page.setInputFiles('#open-reference', [join(SHARED, 'data', CT_SEG)]);
  await page.waitForSelector('#compare-panel button:not([disabled])');
  await page.click('#compare-panel button');
  await page.waitForSelector('.compare-table tbody tr');
  const rows = await page.$$eval('.compare-table tbody tr', (trs) => trs.map((tr) => ({ label: Number(tr.dataset.label), dice: Number(tr.dataset.dice), hd95: tr.dataset.hd95 === '' ? null : Number(tr.dataset.hd95), cells: [...tr.cells].map((c) => c.textContent) })));
  const cli = execFileSync(BIN, ['eval', mine.path, join(SHARED, 'data', CT_SEG)], { encoding: 'utf8' })
    .split('\n').filter((l) => /^\s*\d+\s/.test(l)).map((l) => l.trim().split(/\s+/));
  assert.equal(rows.length, cli.length, 'the same labels');
  for (const [k, row] of rows.entries()) {
    const [label, dice, hd, predMl, truthMl] = cli[k];
    assert.equal(row.label, Number(label));
    assert.equal(row.dice.toFixed(4), dice, `label ${label} Dice`);
    assert.equal(row.hd95 === null ? '—' : row.hd95.toFixed(2), hd, `label ${label} HD95`);
    assert.equal(row.cells[4], predMl, `label ${label} mine mL`);
    assert.equal(row.cells[5], truthMl, `label ${label} reference mL`);
  }
  assert.ok(rows.find((r) => r.label === 5).dice < 1, 'the edited liver disagrees');
  assert.ok(rows.filter((r) => r.label !== 5).every((r) => r.dice === 1), 'the other labels agree');
  // The agreement view: only-in-reference where the liver was erased.
  await page.selectOption('#compare-panel select', 'agreement');
  const shown = await page.evaluate((c) => { window.medsegViewer.setVoxel(c); return window.medsegViewer.labelAt(window.medsegViewer.cursor); }, centre);
  assert.equal(shown, 3, 'the erased liver shows as only in the reference');
  await page.screenshot({ path: join(ROOT, 'tests/e2e/screenshots/compare.png') });
  await page.selectOption('#compare-panel select', 'labels');
});

test('<medseg-viewer editable reference=…>: paint, `edited`, the reference hidden until compare(), `compared`', async (t) => {
  if (skipWithout(t, CT, CT_SEG)) return;
  const site = join(TMP, 'site');
  mkdirSync(site, { recursive: true });
  cpSync(join(SHARED, 'data', CT), join(site, 'ct.nii.gz'));
  cpSync(join(SHARED, 'data', CT_SEG), join(site, 'seg.nii.gz'));
  writeFileSync(join(site, 'index.html'), `<!doctype html><html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; worker-src 'self'; connect-src 'self'">
<script type="module" src="/medseg/medseg.js"></script></head><body>
<medseg-viewer id="v" scan="ct.nii.gz" reference="seg.nii.gz" view="axial" editable style="height: 600px"></medseg-viewer></body></html>`);
  const server = await serve([['/medseg/', WWW], ['/', site]]);
  const browser = await launch();
  try {
    const context = await newContext(browser, { viewport: { width: 1200, height: 700 } });
    const p = await context.newPage();
    p.on('pageerror', (e) => console.error('page error:', e.message));
    await p.goto(server.origin + '/');
    await p.waitForFunction(() => document.getElementById('v').dataset.state === 'ready' && document.getElementById('v').comparePanel.reference);
    assert.equal(await p.evaluate(() => document.getElementById('v').viewer.overlay), null, 'the reference is not shown before comparing');
    // A 6 mm disc of label 5 in the middle of the reference's liver.
    const seg = readNifti(join(SHARED, 'data', CT_SEG));
    const liverVoxels = [...where(seg.values, 5)];
    const m = liverVoxels[Math.floor(liverVoxels.length / 2)];
    const [nx, ny] = seg.dims;
    const centre = [m % nx, Math.floor(m / nx) % ny, Math.floor(m / (nx * ny))];
    await p.evaluate((c) => {
      const v = document.getElementById('v');
      window.edits = [];
      v.addEventListener('edited', (e) => window.edits.push(e.detail));
      v.tools.setLabel(5);
      v.tools.select('brush');
      v.tools.setRadius(6);
      v.viewer.setVoxel(c);
    }, centre);
    const xy = await p.evaluate((c) => document.getElementById('v').viewer.screenOf('axial', c), centre);
    await p.mouse.click(...xy);
    const edits = await p.evaluate(() => window.edits);
    assert.equal(edits.length, 1);
    assert.equal(edits[0].kind, 'brush');
    assert.equal(edits[0].volumes[0].value, 5);
    assert.ok(edits[0].volumes[0].voxels > 0);
    const result = await p.evaluate(() => new Promise((ok) => {
      const v = document.getElementById('v');
      v.addEventListener('compared', (e) => ok(e.detail), { once: true });
      v.shadowRoot.querySelector('.compare button').click();
    }));
    const liver = result.rows.find((r) => r.label === 5);
    assert.ok(liver && liver.dice > 0 && liver.dice < 1, `liver Dice ${liver?.dice}`);
    assert.equal(result.rows.length, new Set(seg.values).size - 1, 'a row for every label of the reference (0 aside)');
    assert.equal(await p.evaluate(() => document.getElementById('v').shadowRoot.querySelectorAll('.compare-table tbody tr').length), result.rows.length);
    await p.screenshot({ path: join(ROOT, 'tests/e2e/screenshots/element_edit.png') });
  } finally {
    await browser.close();
    await server.close();
  }
});
