// The backend choice in the page. With WebGPU (headless Chromium's SwiftShader adapter, from
// --enable-unsafe-webgpu) a model run with backend GPU gives the label map of backend CPU and the
// status line says the GPU ran; without an adapter Auto runs on the CPU and says why, and GPU is a
// plain error that leaves the page usable. The choice is remembered across reloads.
// Scan and model: model5_gw_ae on a 96×96×48 block of a real T1 (FreeSurfer's norm.nii.gz, cut here;
// tests/gpu_models.rs also runs MeshNets on a block of it), so that SwiftShader (the GPU emulated
// on the CPU) finishes in a few minutes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { gunzipSync, gzipSync } from 'node:zlib';
import { openScanFiles, openSession, ROOT, SHARED } from './harness.mjs';

const SOURCE = join(SHARED, 'data/brain/norm.nii.gz');
const SCAN = join(mkdtempSync(join(tmpdir(), 'medseg-gpu-')), 'norm_block96x96x48.nii.gz');
const MODEL = 'model5_gw_ae';
let session;
let page;

before(async () => {
  session = await openSession({ width: 1500, height: 800 }, { webgpu: true });
  ({ page } = session);
});

after(async () => {
  assert.deepEqual(await session.close(), [], 'every request stays on the page origin');
});

function skipWithoutData(t) {
  const ready = existsSync(SOURCE) && existsSync(join(ROOT, 'models', MODEL, 'model.json'));
  if (!ready && process.env.MEDSEG_REQUIRE_SHARED === '1') assert.fail(`${SOURCE} or models/${MODEL} is missing`);
  if (!ready) t.skip('needs ../shared and `medseg models fetch --from ../shared/models/brainchop-tfjs model5_gw_ae`');
  if (ready && !existsSync(SCAN)) writeFileSync(SCAN, cropNifti(SOURCE, [80, 80, 104], [96, 96, 48]));
  return !ready;
}

/** A block of a gzipped NIfTI-1 file: `size` voxels from voxel `start`, its sform moved there (qform dropped). */
function cropNifti(path, start, size) {
  const raw = gunzipSync(readFileSync(path));
  const h = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const dims = [1, 2, 3].map((i) => h.getInt16(40 + 2 * i, true));
  const bytes = h.getInt16(72, true) / 8;
  const offset = Math.round(h.getFloat32(108, true));
  assert.ok(h.getInt16(254, true) > 0, `${path} has an sform`);
  const out = Buffer.alloc(offset + size[0] * size[1] * size[2] * bytes);
  raw.copy(out, 0, 0, offset);
  const o = new DataView(out.buffer, out.byteOffset, out.byteLength);
  o.setInt16(40, 3, true);
  size.forEach((n, i) => o.setInt16(42 + 2 * i, n, true));
  o.setInt16(252, 0, true); // qform_code 0: the moved sform is the geometry
  for (let r = 0; r < 3; r++) {
    const row = 280 + 16 * r;
    const m = [0, 1, 2].map((c) => h.getFloat32(row + 4 * c, true));
    o.setFloat32(row + 12, h.getFloat32(row + 12, true) + m[0] * start[0] + m[1] * start[1] + m[2] * start[2], true);
  }
  let at = offset;
  for (let z = 0; z < size[2]; z++) {
    for (let y = 0; y < size[1]; y++) {
      const from = offset + bytes * (start[0] + dims[0] * (start[1] + y + dims[1] * (start[2] + z)));
      raw.copy(out, at, from, from + bytes * size[0]);
      at += bytes * size[0];
    }
  }
  return gzipSync(out);
}

async function openAndPick(p) {
  await openScanFiles(p, [SCAN]);
  await p.waitForFunction((m) => [...document.querySelectorAll('#model-picker option')].some((o) => o.value === m), MODEL);
  await p.selectOption('#model-picker', MODEL);
}

/** Runs the picked model on `backend`; resolves to the status line, or throws with the page's error. */
async function run(p, backend) {
  await p.selectOption('#backend', backend);
  await p.evaluate(() => {
    delete document.body.dataset.segmented;
    document.getElementById('message').hidden = true;
  });
  await p.click('#run-model');
  const outcome = await p.waitForFunction((m) => {
    if (document.body.dataset.segmented === m) return 'done';
    const message = document.getElementById('message');
    return !message.hidden && message.textContent ? message.textContent : false;
  }, MODEL, { polling: 200 }).then((h) => h.jsonValue());
  if (outcome !== 'done') throw new Error(outcome);
  return p.textContent('#model-result');
}

test('WebGPU gives this Chromium an adapter', async () => {
  const adapter = await page.evaluate(async () => {
    if (!navigator.gpu) return 'navigator.gpu is missing';
    const found = await navigator.gpu.requestAdapter();
    return found ? `${found.info.vendor} ${found.info.architecture}` : null;
  });
  assert.ok(adapter && !/missing/.test(adapter),
    `headless Chromium with --enable-unsafe-webgpu gave no WebGPU adapter (${adapter}): the GPU tests cannot run`);
});

test('backend GPU gives the label map of backend CPU, and the status says the GPU ran', async (t) => {
  if (skipWithoutData(t)) return;
  await openAndPick(page);
  const cpu = await run(page, 'cpu');
  assert.match(cpu, /^ran on CPU \(chosen\) · single-threaded build \(the page is not cross-origin isolated\)$/m, cpu);
  const tissue = await page.evaluate(() => {
    window.cpuLabels = window.medsegViewer.overlay.values.slice();
    const counts = [0, 0, 0];
    for (const v of window.cpuLabels) counts[v] = (counts[v] ?? 0) + 1;
    return counts;
  });
  assert.ok(tissue[1] > 10_000 && tissue[2] > 10_000, `the CPU finds white and grey matter: ${tissue}`);

  const gpu = await run(page, 'gpu').catch((e) => assert.fail(`backend GPU failed in the page: ${e.message}`));
  console.log(`# ${gpu.replaceAll('\n', ' | ')}`);
  assert.match(gpu, /^ran on GPU: .*self-check/m, `the GPU ran: ${gpu}`);
  assert.doesNotMatch(gpu, /finished on the CPU/, `no fallback to the CPU: ${gpu}`);
  assert.match(gpu, /GPU memory peak \d+ MB/, gpu);
  const { differing, total } = await page.evaluate(() => {
    const a = window.cpuLabels;
    const b = window.medsegViewer.overlay.values;
    let n = a.length === b.length ? 0 : Infinity;
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) n++;
    return { differing: n, total: a.length };
  });
  assert.ok(differing / total <= 0.001, `GPU vs CPU: ${differing} of ${total} voxels differ`);
  await page.screenshot({ path: join(ROOT, 'tests/e2e/screenshots/segment_gpu.png') });
});

test('the backend choice is remembered across reloads', async () => {
  await page.selectOption('#backend', 'cpu');
  await page.reload();
  assert.equal(await page.inputValue('#backend'), 'cpu');
  await page.selectOption('#backend', 'auto');
  await page.reload();
  assert.equal(await page.inputValue('#backend'), 'auto');
});

test('without a WebGPU adapter, Auto runs on the CPU and says why, and GPU is a plain error', async (t) => {
  if (skipWithoutData(t)) return;
  const plain = await openSession({ width: 1500, height: 800 }, { webgpu: false });
  try {
    await openAndPick(plain.page);
    const error = await run(plain.page, 'gpu').then((status) => assert.fail(`backend GPU ran without an adapter: ${status}`), (e) => e.message);
    assert.match(error, /the GPU backend is not available \(GPU: no GPU adapter is available\): choose Auto or CPU/, error);
    assert.equal(await plain.page.isEnabled('#run-model'), true, 'the page stays usable');
    const auto = await run(plain.page, 'auto');
    assert.match(auto, /^ran on CPU \(GPU: no GPU adapter is available\) · single-threaded build \(the page is not cross-origin isolated\)$/m, auto);
  } finally {
    assert.deepEqual(await plain.close(), [], 'every request stays on the page origin');
  }
});
