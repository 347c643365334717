// The 3D view in headless Chromium (WebGL2 on SwiftShader): label surfaces made in the mesh worker
// with progress to the end, drawn in the labels' colours, hidden with the label table's checkboxes,
// turned and reset; Cancel; the mesh downloads are byte for byte what `medseg mesh` writes for the
// same label map and table; without WebGL2 the rest of the page keeps working.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { openScanFiles, openSession, MEDSEG_BIN, ROOT, SHARED } from './harness.mjs';

const SHOTS = join(ROOT, 'tests/e2e/screenshots');
mkdirSync(SHOTS, { recursive: true });
const TMP = mkdtempSync(join(tmpdir(), 'medseg-mesh-'));
const CT = join(SHARED, 'data/ct/example_ct_sm.nii.gz');
const SEG = join(SHARED, 'data/ct/example_seg.nii.gz');
/** The page's default mesh options (lib/mesh.js MESH_DEFAULTS) as `medseg mesh` arguments. */
const DEFAULTS = ['--smooth', '10', '--target-triangles', '20000'];

let session;
let page;

before(async () => {
  session = await openSession({ width: 1600, height: 800 });
  ({ page } = session);
});

after(async () => {
  assert.deepEqual(await session.close(), [], 'every request stays on the page origin');
});

/** The example CT and its label map, or null (test skipped) when ../shared is absent. */
function sharedPair(t) {
  if (existsSync(CT) && existsSync(SEG)) return true;
  if (process.env.MEDSEG_REQUIRE_SHARED === '1') assert.fail(`${CT} or ${SEG} is missing and MEDSEG_REQUIRE_SHARED=1`);
  t.skip('../shared is absent');
  return false;
}

/** Opens the scan, then the label map (no sidecar: the page names and colours the labels). */
async function openPair(p = page) {
  await openScanFiles(p, [CT]);
  await p.setInputFiles('#open-overlay', SEG);
  await p.waitForSelector('#label-table tbody tr');
}

/** Opens the 3D panel and waits for its surfaces (fails on a shown error). */
async function show3d(p = page) {
  await p.click('#show-3d');
  await p.waitForFunction(() => ['done', 'failed'].includes(document.body.dataset.mesh));
  assert.equal(await p.evaluate(() => document.body.dataset.mesh), 'done', await p.textContent('#message'));
}

/** Waits until the 3D view has drawn a frame after `change()`. */
async function redrawn(change) {
  const frame = await page.evaluate(() => window.medsegMesh.view().frame);
  await change();
  await page.waitForFunction((f) => window.medsegMesh.view().frame > f, frame);
}

/**
 * The 3D canvas's pixels: {lit: fraction not black, counts: for each colour of `colours`, the pixels
 * of that hue (a lit surface is its colour scaled by the light, plus a little white highlight)}.
 */
function pixels(colours) {
  return page.evaluate((colours) => {
    const canvas = document.querySelector('#view-3d canvas');
    const copy = Object.assign(document.createElement('canvas'), { width: canvas.width, height: canvas.height });
    const ctx = copy.getContext('2d');
    ctx.drawImage(canvas, 0, 0);
    const { data } = ctx.getImageData(0, 0, copy.width, copy.height);
    const unit = (v) => v.map((x) => x / Math.hypot(...v));
    const targets = colours.map(unit);
    const counts = colours.map(() => 0);
    let lit = 0;
    for (let i = 0; i < data.length; i += 4) {
      const p = [data[i], data[i + 1], data[i + 2]];
      const length = Math.hypot(...p);
      if (length < 40) continue;
      lit++;
      targets.forEach((t, k) => {
        if ((p[0] * t[0] + p[1] * t[1] + p[2] * t[2]) / length > 0.995) counts[k]++;
      });
    }
    return { lit: lit / (data.length / 4), counts };
  }, colours);
}

/** The 3D canvas as a data URL (to compare two renderings). */
const snapshot = () => page.evaluate(() => document.querySelector('#view-3d canvas').toDataURL());

/** Clicks a download control and saves the file under TMP; returns its path. */
async function downloadFrom(selector) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(selector)]);
  const path = join(TMP, download.suggestedFilename());
  await download.saveAs(path);
  return path;
}

test('3D view: surfaces in the labels\' colours, hidden with the table, turned and reset; downloads equal medseg mesh', async (t) => {
  if (!sharedPair(t)) return;
  await openPair();
  const labels = await page.$$eval('#label-table tbody tr', (rows) => rows.map((tr) => ({
    value: Number(tr.dataset.value), rgb: tr.querySelector('.swatch').style.backgroundColor.match(/\d+/g).map(Number),
  })));
  await page.evaluate(() => {
    window.meshStages = [];
    new MutationObserver(() => window.meshStages.push(document.getElementById('mesh-stage').textContent))
      .observe(document.getElementById('mesh-stage'), { childList: true, characterData: true, subtree: true });
  });
  await show3d();
  const stages = await page.evaluate(() => window.meshStages);
  assert.equal(stages.at(-1), `surfaces: ${labels.length} of ${labels.length} labels`, 'the progress reaches the last label');
  const triangles = Number(await page.evaluate(() => document.body.dataset.meshTriangles));
  assert.ok(triangles > 10_000, `${triangles} triangles`);
  assert.match(await page.textContent('#mesh-status'), new RegExp(`${labels.length} surfaces · ${triangles.toLocaleString('en')} triangles · made in [\\d.]+ s · wasm memory \\d+ MB`));
  await page.waitForFunction(() => window.medsegMesh.view().frame > 0);
  await page.screenshot({ path: join(SHOTS, 'mesh_3d.png') });

  // Lit surfaces in the labels' colours: the liver (5) in front, and many other labels around it.
  const first = await pixels(labels.map((l) => l.rgb));
  const liver = labels.findIndex((l) => l.value === 5);
  assert.ok(first.lit > 0.05, `${(first.lit * 100).toFixed(1)} % of the 3D view is lit`);
  assert.ok(first.counts[liver] > 5000, `${first.counts[liver]} pixels of the liver's colour`);
  const seen = labels.filter((_, k) => first.counts[k] > 100).length;
  assert.ok(seen >= 8, `${seen} labels' colours seen`);

  // Hiding the liver in the label table hides its surface.
  const liverBox = page.locator('#label-table tbody tr[data-value="5"] input');
  await redrawn(() => liverBox.uncheck());
  const hidden = await pixels([labels[liver].rgb]);
  assert.ok(hidden.counts[0] < first.counts[liver] * 0.05, `liver pixels ${first.counts[liver]} → ${hidden.counts[0]} once hidden`);
  await page.screenshot({ path: join(SHOTS, 'mesh_3d_liver_hidden.png') });
  await redrawn(() => liverBox.check());
  const front = await snapshot();

  // A drag turns the scene; Reset brings the front view back exactly.
  const box = await page.locator('#view-3d canvas').first().boundingBox();
  await redrawn(async () => {
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2 + 150, box.y + box.height / 2 + 40, { steps: 5 });
    await page.mouse.up();
  });
  await page.screenshot({ path: join(SHOTS, 'mesh_3d_turned.png') });
  assert.notEqual(await snapshot(), front, 'the drag turned the view');
  await redrawn(() => page.click('#reset-3d'));
  assert.equal(await snapshot(), front, 'Reset shows the front view again');
  // Clipping at the axial slice through the crosshair cuts the surfaces.
  await redrawn(() => page.check('#clip-3d'));
  assert.notEqual(await snapshot(), front, 'clipping changed the view');
  await page.screenshot({ path: join(SHOTS, 'mesh_3d_clipped.png') });
  await redrawn(() => page.uncheck('#clip-3d'));

  // The downloads are what `medseg mesh` writes for the same label map with the page's table as its sidecar.
  const [tableDownload] = await Promise.all([
    page.waitForEvent('download', { predicate: (d) => d.suggestedFilename().endsWith('.json') }),
    page.click('#save-overlay'),
  ]);
  const cliLabels = join(TMP, 'cli_labels.nii.gz');
  copyFileSync(SEG, cliLabels);
  await tableDownload.saveAs(join(TMP, 'cli_labels.json'));
  const cli = (out, ...extra) => {
    execFileSync(MEDSEG_BIN, ['mesh', cliLabels, ...DEFAULTS, ...extra, '-o', out], { stdio: 'ignore' });
    return readFileSync(out);
  };
  for (const [format, lps] of [['glb', false], ['stl', false], ['stl', true], ['obj', false], ['ply', false]]) {
    await page.selectOption('#mesh-format', format);
    await page.setChecked('#mesh-lps', lps);
    const saved = await downloadFrom('#download-mesh');
    assert.ok(saved.endsWith(`_mesh.${format}`), saved);
    const what = `the page's .${format}${lps ? ' (LPS)' : ''}`;
    const [mine, theirs] = [readFileSync(saved), cli(join(TMP, `cli.${format}`), ...(lps ? ['--lps'] : []))];
    assert.ok(mine.equals(theirs), `${what} equals medseg mesh's (${mine.length} and ${theirs.length} bytes)`);
  }
});

test('3D view: Cancel stops the surfaces; opening the panel again makes them', async (t) => {
  if (!sharedPair(t)) return;
  if (await page.isVisible('#pane-3d')) await page.click('#show-3d');
  await page.setInputFiles('#open-overlay', SEG); // a new overlay: the panel makes its surfaces again
  await page.click('#show-3d');
  await page.waitForFunction(() => /of \d+ labels/.test(document.getElementById('mesh-stage').textContent));
  await page.click('#cancel-mesh');
  assert.equal(await page.evaluate(() => document.body.dataset.mesh), 'cancelled');
  assert.equal(await page.textContent('#mesh-status'), 'Cancelled.');
  assert.ok(await page.isHidden('#mesh-progress'));
  assert.ok(await page.isDisabled('#download-mesh'));
  await page.click('#show-3d');
  await show3d();
});

test('without WebGL2 the 3D panel says so, the mesh still downloads and the viewer works', async (t) => {
  if (!sharedPair(t)) return;
  const plain = await page.context().newPage();
  await plain.addInitScript(() => {
    const getContext = HTMLCanvasElement.prototype.getContext;
    HTMLCanvasElement.prototype.getContext = function (type, ...rest) {
      return type === 'webgl2' ? null : getContext.call(this, type, ...rest);
    };
  });
  await plain.goto(new URL('/', page.url()).href);
  await openPair(plain);
  await show3d(plain);
  assert.match(await plain.textContent('#view-3d'), /no WebGL2/);
  assert.ok(await plain.isEnabled('#download-mesh'));
  const [download] = await Promise.all([plain.waitForEvent('download'), plain.click('#download-mesh')]);
  assert.ok(download.suggestedFilename().endsWith('_mesh.glb'));
  await plain.fill('#cursor-voxel', '60 50 15');
  await plain.press('#cursor-voxel', 'Enter');
  assert.equal((await plain.textContent('#cursor-world')).trim(), `${(-177.9563 + 180).toFixed(1)}, ${(11.319 + 150).toFixed(1)}, ${(94.3018 + 45).toFixed(1)} mm`);
  await plain.close();
});
