// The backend choice in the page. With WebGPU (headless Chromium's SwiftShader adapter, from
// --enable-unsafe-webgpu) a model run with backend GPU gives the label map of backend CPU and the
// status line says the GPU ran; without an adapter Auto runs on the CPU and says why, and GPU is a
// plain error that leaves the page usable. The choice is remembered across reloads.
// Scan and model: the smallest brain in ../shared, so that SwiftShader (the GPU emulated on the CPU)
// finishes in minutes: INIA19 NeuroMaps, a macaque atlas image (piecewise-constant intensities on
// real anatomy; 168 × 206 × 128 at 0.5 mm), ~4 s of model5_gw_ae on the CPU natively, ~9× less than
// AIL; every convolution of the model runs on its brain-sized crop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openSession, ROOT, SHARED } from './harness.mjs';

const SCAN = join(SHARED, 'data/nifti-cases/inia19-NeuroMaps.nii.gz');
const MODEL = 'model5_gw_ae';
const RUN_TIMEOUT = 600_000; // SwiftShader runs the kernels on the CPU
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
  const ready = existsSync(SCAN) && existsSync(join(ROOT, 'models', MODEL, 'model.json'));
  if (!ready && process.env.MEDSEG_REQUIRE_SHARED === '1') assert.fail(`${SCAN} or models/${MODEL} is missing`);
  if (!ready) t.skip('needs ../shared and `medseg models fetch --from ../shared/models/brainchop-tfjs model5_gw_ae`');
  return !ready;
}

async function openAndPick(p) {
  await p.setInputFiles('#open-scan', [SCAN]);
  await p.waitForFunction(() => document.body.dataset.state === 'ready');
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
  }, MODEL, { timeout: RUN_TIMEOUT, polling: 200 }).then((h) => h.jsonValue());
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
  assert.match(cpu, /^ran on CPU \(chosen\)$/m, cpu);
  await page.evaluate(() => { window.cpuLabels = window.medsegViewer.overlay.values.slice(); });

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
    assert.match(auto, /^ran on CPU \(GPU: no GPU adapter is available\)$/m, auto);
  } finally {
    assert.deepEqual(await plain.close(), [], 'every request stays on the page origin');
  }
});
