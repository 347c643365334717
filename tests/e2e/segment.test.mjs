// Segmentation in the page: a catalog model runs in a worker with progress, its label map
// equals the native CLI's, and Cancel stops it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { openScanFiles, openSession, MEDSEG_BIN as BIN, ROOT, SHARED } from './harness.mjs';

const TMP = mkdtempSync(join(tmpdir(), 'medseg-seg-'));
const SCAN = join(SHARED, 'data/nifti-cases/AIL.nii.gz');
const MODEL = 'model5_gw_ae';
let session;
let page;

before(async () => {
  session = await openSession({ width: 1500, height: 800 });
  ({ page } = session);
});

after(async () => {
  assert.deepEqual(await session.close(), [], 'every request stays on the page origin');
});

function skipWithoutData(t) {
  const ready = existsSync(SCAN) && existsSync(join(ROOT, 'models', MODEL, 'model.json'));
  if (!ready && process.env.MEDSEG_REQUIRE_SHARED === '1') assert.fail(`${SCAN} or models/${MODEL} is missing`);
  if (!ready) t.skip('needs ../shared and `medseg models fetch --from ../shared/models/brainchop-tfjs model5_gw_ae`');
  return !ready;
}

async function openAndPick(model = MODEL) {
  await openScanFiles(page, [SCAN]);
  await page.waitForFunction((m) => [...document.querySelectorAll('#model-picker option')].some((o) => o.value === m), model);
  await page.selectOption('#model-picker', model);
}

/** Saves the page's label map and compares it with the native CLI's on the same model and scan. */
async function comparePageWithCli(modelArgument, scan = SCAN) {
  const download = page.waitForEvent('download');
  await page.click('#save-overlay');
  const saved = join(TMP, 'page.nii.gz');
  await (await download).saveAs(saved);
  const native = join(TMP, 'native.nii.gz');
  execFileSync(BIN, ['segment', '--model', modelArgument, scan, '-o', native], { stdio: 'pipe' });
  let report;
  try {
    report = execFileSync(BIN, ['compare', saved, native], { encoding: 'utf8' });
  } catch (e) {
    report = e.stdout; // exit 1 when any voxel differs; the share is checked below
  }
  const [, differing, total] = report.match(/voxels differing (\d+) of (\d+)/);
  assert.ok(Number(differing) / Number(total) <= 0.001, `page vs CLI: ${differing} of ${total} voxels differ`);
  assert.match(report, /affine max \|Δ\| {2}0e0/);
}

test('a catalog model runs in the page and matches the native CLI', async (t) => {
  if (skipWithoutData(t)) return;
  await openAndPick();
  const stages = new Set();
  await page.exposeFunction('noteStage', (s) => stages.add(s));
  await page.evaluate(() => new MutationObserver(() => window.noteStage(document.getElementById('model-stage').textContent.replace(/ \d+ %$/, '')))
    .observe(document.getElementById('model-stage'), { childList: true, characterData: true, subtree: true }));
  await page.click('#run-model');
  await page.waitForFunction((m) => document.body.dataset.segmented === m, MODEL);
  assert.ok(stages.has('running the model'), `progress names the stages: ${[...stages]}`);
  const rows = await page.$$eval('#label-table tbody tr', (trs) => trs.map((tr) => tr.cells[2].textContent.trim()));
  assert.ok(rows.some((r) => /White/i.test(r)) && rows.some((r) => /Gr[ae]y/i.test(r)), `label names from the manifest: ${rows}`);
  await page.screenshot({ path: join(ROOT, 'tests/e2e/screenshots/segment_ail.png') });
  await comparePageWithCli(MODEL);
});

test('HD-BET is offered for a FLAIR, shows its two modes with their cost, and runs fast as the CLI does', async (t) => {
  const flair = join(SHARED, 'data/brain/FLAIR.nii.gz');
  if (!existsSync(flair)) {
    if (process.env.MEDSEG_REQUIRE_SHARED === '1') assert.fail(`${flair} is missing`);
    return t.skip('needs ../shared');
  }
  await page.reload();
  await page.waitForFunction(() => [...document.querySelectorAll('#model-picker option')].some((o) => o.value === 'hd-bet'));
  await openScanFiles(page, [flair]);
  await page.waitForFunction(() => document.getElementById('model-picker').value === 'hd-bet');
  assert.equal(await page.isVisible('#model-mode-row'), true, 'HD-BET has a fast and an accurate mode');
  // 124×160×140 at 1 mm is 83×107×93 at 1.5 mm: one 128³ patch; accurate is 8 mirrorings × 5 folds.
  assert.match(await page.textContent('#model-estimate'), /^1 network run on this scan.*fast 1, accurate 40\./);
  await page.click('#run-model');
  // One 128³ run of HD-BET: 47 s on this 2-core machine in stop 24, 230 s on the one of stop 25 (in the page; natively 16 and 14 s).
  await page.waitForFunction(() => document.body.dataset.segmented === 'hd-bet', null, { timeout: 900_000 });
  // The page writes minutes from 90 s on (a loaded machine can take that long).
  assert.match(await page.textContent('#model-estimate'), /^1 network run on this scan ≈ \d+ (s|min) here/, 'the time is known after a run');
  await page.screenshot({ path: join(ROOT, 'tests/e2e/screenshots/segment_hdbet_flair.png') });
  await comparePageWithCli('hd-bet', flair);
});

test('a model the user brings (.onnx + manifest) runs in the page and in the CLI', async (t) => {
  const onnx = join(SHARED, 'models/meshnet-onnx/model5_gw_ae.onnx');
  if (skipWithoutData(t)) return;
  // The user's own manifest: the ONNX export of model5_gw_ae with the catalog's preprocessing.
  const catalog = JSON.parse(readFileSync(join(ROOT, 'models/catalog.json'), 'utf8'));
  const manifest = structuredClone(catalog.models.find((m) => m.name === MODEL));
  const sha256 = createHash('sha256').update(readFileSync(onnx)).digest('hex');
  Object.assign(manifest, { name: 'my-onnx-model', title: 'My ONNX model', format: 'onnx',
    files: [{ path: 'my_model.onnx', sha256, bytes: statSync(onnx).size }] });
  const manifestPath = join(TMP, 'my_model.json');
  writeFileSync(manifestPath, JSON.stringify(manifest));
  copyFileSync(onnx, join(TMP, 'my_model.onnx'));
  await page.setInputFiles('#open-model', [manifestPath, join(TMP, 'my_model.onnx')]);
  await openAndPick('my-onnx-model');
  await page.click('#run-model');
  await page.waitForFunction(() => document.body.dataset.segmented === 'my-onnx-model');
  await comparePageWithCli(manifestPath);
  // A manifest that lists a file the user did not choose is a clear error.
  await page.setInputFiles('#open-model', [manifestPath]);
  await page.waitForSelector('#message:not([hidden])');
  assert.match(await page.textContent('#message'), /lists my_model\.onnx: choose it too/);
});

test('Cancel stops a running model and the page stays usable', async (t) => {
  if (skipWithoutData(t)) return;
  await openAndPick();
  await page.click('#run-model');
  await page.waitForSelector('#cancel-model:not([hidden])');
  await page.click('#cancel-model');
  await page.waitForFunction(() => document.getElementById('model-result').textContent === 'Cancelled.');
  assert.equal(await page.isEnabled('#run-model'), true);
  assert.equal(await page.isHidden('#model-progress'), true);
});

test('with one .hdr and two .img files dropped, the model runs on the image shown, sent as its stored voxels (never the file)', async (t) => {
  if (skipWithoutData(t)) return;
  // Record what the page sends each worker (by the worker's script), from a fresh load of the page.
  await page.addInitScript(() => {
    const Original = window.Worker;
    window.workerMessages = [];
    window.Worker = class extends Original {
      constructor(url, options) {
        super(url, options);
        this.script = new URL(url, location.href).pathname;
      }

      postMessage(message, transfer) {
        const fields = Object.fromEntries(Object.entries(message ?? {}).map(([k, v]) => [k, v?.constructor?.name ?? typeof v]));
        window.workerMessages.push({ script: this.script, type: message?.type, fields, length: message?.values?.length ?? null });
        return super.postMessage(message, transfer);
      }
    };
  });
  await page.reload();
  // AIL as a .hdr/.img pair, plus a decoy .img of the same size (all zeros) listed first.
  const nii = (await import('node:zlib')).gunzipSync(readFileSync(SCAN));
  const hdr = Buffer.from(nii.subarray(0, 348));
  hdr.write('ni1\0', 344, 'latin1');
  hdr.writeFloatLE(0, 108);
  const img = nii.subarray(Math.round(nii.readFloatLE(108))); // the voxels start at vox_offset
  const dir = mkdtempSync(join(TMP, 'pair-'));
  writeFileSync(join(dir, 'ail.hdr'), hdr);
  writeFileSync(join(dir, 'ail.img'), img);
  writeFileSync(join(dir, 'decoy.img'), Buffer.alloc(img.length));
  await openScanFiles(page, [join(dir, 'decoy.img'), join(dir, 'ail.hdr'), join(dir, 'ail.img')]);
  await page.waitForFunction((m) => [...document.querySelectorAll('#model-picker option')].some((o) => o.value === m), MODEL);
  await page.selectOption('#model-picker', MODEL);
  await page.click('#run-model');
  await page.waitForFunction((m) => document.body.dataset.segmented === m || !document.getElementById('message').hidden, MODEL);
  assert.equal(await page.isHidden('#message'), true, await page.textContent('#message'));
  await comparePageWithCli(MODEL); // the CLI ran on AIL.nii.gz: the image shown, not the decoy
  const sent = (await page.evaluate(() => window.workerMessages)).filter((m) => /segment/.test(m.script));
  assert.equal(sent.length, 1, `one request to the segmentation worker: ${JSON.stringify(sent)}`);
  assert.equal(sent[0].fields.values, 'Uint8Array', `the stored voxels as bytes: ${JSON.stringify(sent[0].fields)}`);
  assert.equal(sent[0].length, img.length, 'exactly the voxels of the image shown, in their stored type');
  assert.deepEqual(Object.keys(sent[0].fields).sort(), ['backend', 'files', 'geometry', 'id', 'manifest', 'threads', 'type', 'values'],
    'nothing but the model, the voxels and their geometry');
});
