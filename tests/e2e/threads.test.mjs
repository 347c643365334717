// The two wasm builds (www/lib/wasm.js): a cross-origin isolated page runs models on the threaded
// build with the threads asked for; the same page in an iframe of a page without isolation runs the
// single-threaded build, says so, and gives the same labels voxel for voxel. (The teaching page's
// single-threaded run under its strict CSP is checked in embed.test.mjs.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { ISOLATION, WWW, launch, newContext, openScanFiles, readNifti, serve } from './harness.mjs';

const TMP = mkdtempSync(join(tmpdir(), 'medseg-threads-'));
const SCAN = join(WWW, 'sample/mni152_t1.nii.gz'); // scripts/setup.sh sample
const MODEL = 'deepbet'; // committed: no download
let isolated;
let plain;
let browser;
let context;

before(async () => {
  isolated = await serve(undefined, { headers: () => ISOLATION });
  // A host page without isolation headers that shows the app in an iframe.
  writeFileSync(join(TMP, 'host.html'), '<!doctype html><title>host</title>'
    + '<iframe id="app" src="/index.html" width="1480" height="860"></iframe>');
  plain = await serve([['/host/', TMP], ['/', WWW]]);
  browser = await launch();
  context = await newContext(browser, { viewport: { width: 1500, height: 900 }, acceptDownloads: true });
});

after(async () => {
  await browser.close();
  await isolated.close();
  await plain.close();
});

/** Opens the sample in `frame` (a page or an iframe), runs deepbet asking for 2 threads, saves the labels. */
async function segmentAndSave(page, frame, name) {
  await frame.waitForFunction(() => document.getElementById('threads')?.options.length > 0);
  await openScanFiles(frame, [SCAN]);
  await frame.waitForFunction((m) => [...document.querySelectorAll('#model-picker option')].some((o) => o.value === m), MODEL);
  await frame.selectOption('#model-picker', MODEL);
  await frame.selectOption('#backend', 'cpu');
  await frame.selectOption('#threads', '2');
  await frame.click('#run-model');
  await frame.waitForFunction((m) => document.body.dataset.segmented === m || !document.getElementById('message').hidden, MODEL);
  assert.equal(await frame.evaluate(() => document.body.dataset.segmented), MODEL, await frame.textContent('#message'));
  const status = await frame.textContent('#model-result');
  const download = page.waitForEvent('download');
  await frame.click('#save-overlay');
  const saved = join(TMP, `${name}.nii.gz`);
  await (await download).saveAs(saved);
  return { status, labels: readNifti(saved) };
}

test('an isolated page runs the threaded build; a non-isolated iframe the single-threaded one; the labels are equal', async () => {
  const page = await context.newPage();
  await page.goto(isolated.origin + '/');
  assert.equal(await page.evaluate(() => self.crossOriginIsolated), true, 'the isolation headers took effect');
  const threaded = await segmentAndSave(page, page, 'threaded');
  assert.match(threaded.status, /ran on CPU.* · threaded build, 2 threads/, threaded.status);

  const host = await context.newPage();
  await host.goto(plain.origin + '/host/host.html');
  const frame = host.frames().find((f) => f.url().endsWith('/index.html'));
  assert.equal(await frame.evaluate(() => self.crossOriginIsolated), false);
  const single = await segmentAndSave(host, frame, 'single');
  assert.match(single.status, /ran on CPU.* · single-threaded build \(the page is not cross-origin isolated\)/, single.status);

  assert.deepEqual(single.labels.dims, threaded.labels.dims);
  let differing = 0;
  let brain = 0;
  for (let i = 0; i < threaded.labels.values.length; i++) {
    if (threaded.labels.values[i] !== single.labels.values[i]) differing++;
    if (threaded.labels.values[i] === 1) brain++;
  }
  assert.equal(differing, 0, 'the two builds give the same labels');
  // The MNI152 template's brain at 1 mm: about 1.5–1.9 L (a test that cannot pass on empty labels).
  assert.ok(brain > 1.2e6 && brain < 2.2e6, `brain voxels ${brain}`);
  await page.close();
  await host.close();
});
