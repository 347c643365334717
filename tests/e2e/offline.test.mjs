// Offline: the service worker keeps the app shell, the wasm and the committed models, so after
// one visit the page starts, opens a dropped scan and runs deepbet with the network off; updates
// replace the offline copy whole, never file by file.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { serve, launch, ROOT, WWW } from './harness.mjs';
import { precacheManifest, writePrecacheManifest } from '../../scripts/precache.mjs';

const CASE = join(ROOT, 'www/examples/cases/mni152_t1_2mm.nii.gz');
const cleanups = [];
after(async () => {
  for (const f of cleanups.reverse()) await f();
});

async function start(routes) {
  const server = await serve(routes);
  const browser = await launch();
  const context = await browser.newContext({ viewport: { width: 1400, height: 800 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  cleanups.push(async () => { await browser.close(); await server.close(); });
  return { server, context, page };
}

const cacheNames = (page) => page.evaluate(async () => (await caches.keys()).filter((k) => k.startsWith('medseg-')));

test('offline: visit once, go offline, reload — the app starts, opens a dropped scan and runs deepbet', { timeout: 1_500_000 }, async () => {
  const { server, context, page } = await start();
  const manifest = precacheManifest(WWW);
  assert.ok(manifest.models.includes('deepbet'), 'the committed model is part of the offline copy');
  await page.goto(server.origin + '/');
  await page.waitForFunction(() => document.body.dataset.offline === 'ready', null, { timeout: 180_000 });
  const total = manifest.files.reduce((s, f) => s + f.bytes, 0);
  assert.equal(Number(await page.evaluate(() => document.body.dataset.offlineBytes)), total);
  assert.match(await page.textContent('#offline-status'), new RegExp(`Available offline · ${(total / 1e6).toFixed(1)} MB cached`));
  assert.deepEqual(await cacheNames(page), [`medseg-${manifest.version}`]);
  // Installable: Chromium parses the web app manifest without errors and has no objection but the
  // test browser's incognito-like profile.
  const cdp = await context.newCDPSession(page);
  const { errors } = await cdp.send('Page.getAppManifest');
  assert.deepEqual(errors, []);
  const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
  assert.deepEqual(installabilityErrors.map((e) => e.errorId).filter((id) => id !== 'in-incognito'), []);
  await cdp.detach();

  await context.setOffline(true);
  await page.reload();
  await page.waitForFunction(() => document.body.dataset.offline === 'ready', null, { timeout: 30_000 });
  // The indicator follows the browser's online/offline events.
  await page.waitForFunction(() => /you are offline/.test(document.getElementById('offline-status').textContent), null, { timeout: 10_000 });
  // The network really is off: a file outside the offline copy cannot be fetched.
  assert.equal(await page.evaluate(() => fetch('sample/mni152_t1.nii.gz').then((r) => `status ${r.status}`, () => 'failed')), 'failed');

  // Drop a scan on the page.
  await page.evaluate(async (b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dataTransfer = new DataTransfer();
    dataTransfer.items.add(new File([bytes], 'mni152_t1_2mm.nii.gz'));
    document.getElementById('viewer').dispatchEvent(new DragEvent('drop', { dataTransfer, bubbles: true, cancelable: true }));
  }, readFileSync(CASE).toString('base64'));
  await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 30_000 });
  assert.equal((await page.textContent('#scan-dims')).trim(), '98 × 116 × 94');

  // The committed model is offered as available (its HEAD check is answered from the cache) and runs.
  await page.waitForFunction(() => [...document.querySelectorAll('#model-picker option')].some((o) => o.value === 'deepbet'));
  assert.doesNotMatch(await page.$eval('#model-picker option[value=deepbet]', (o) => o.textContent), /not downloaded/);
  await page.selectOption('#model-picker', 'deepbet');
  await page.click('#run-model');
  await page.waitForFunction(() => document.body.dataset.segmented === 'deepbet' || !document.getElementById('message').hidden, null, { timeout: 1_400_000 });
  assert.equal(await page.isHidden('#message'), true, await page.textContent('#message'));
  const rows = await page.$$eval('#label-table tbody tr', (trs) => trs.map((tr) => ({ name: tr.cells[2].textContent.trim(), voxels: Number(tr.dataset.count), ml: Number(tr.cells[4].textContent) })));
  assert.equal(rows.length, 1);
  assert.equal(rows[0].name, 'Brain');
  assert.ok(rows[0].ml > 1000 && rows[0].ml < 2300, `brain volume ${rows[0].ml} mL`);
  console.log(`# offline deepbet: ${await page.textContent('#model-result')}; brain ${rows[0].ml} mL`);
  await page.screenshot({ path: join(ROOT, 'tests/e2e/screenshots/offline_deepbet.png') });
});

test('an update replaces the offline copy whole: a bad update changes nothing, a good one takes over after a reload', { timeout: 300_000 }, async () => {
  // A copy of www/ whose files the test changes: links to everything, copies of what it edits.
  const site = mkdtempSync(join(tmpdir(), 'medseg-site-'));
  for (const name of readdirSync(WWW)) {
    if (name === 'sw-manifest.js') continue;
    if (name === 'app.js' || name === 'style.css') copyFileSync(join(WWW, name), join(site, name));
    else symlinkSync(join(WWW, name), join(site, name));
  }
  const v1 = writePrecacheManifest(site).version;
  const { server, page } = await start([['/', site]]);
  await page.goto(server.origin + '/');
  await page.waitForFunction(() => document.body.dataset.offline === 'ready', null, { timeout: 120_000 });
  await page.reload(); // now served by the service worker
  await page.waitForFunction(() => document.body.dataset.offline === 'ready');
  assert.equal(await page.evaluate(() => document.body.dataset.offlineVersion), v1);
  const served = (path) => page.evaluate((p) => fetch(p).then((r) => r.text()), path);
  const update = () => page.evaluate(async () => {
    const registration = await navigator.serviceWorker.getRegistration();
    await registration.update();
    for (let i = 0; i < 600 && registration.installing; i++) await new Promise((r) => setTimeout(r, 50));
  });

  // A bad update: app.js changed, then style.css changed after the manifest was written (the
  // server now holds files from two versions). The new copy fails its hash check and is dropped.
  appendFileSync(join(site, 'app.js'), '\n// version 2\n');
  const v2 = writePrecacheManifest(site).version;
  appendFileSync(join(site, 'style.css'), '\n/* edited after the manifest */\n');
  await update();
  assert.deepEqual(await cacheNames(page), [`medseg-${v1}`], `no cache of the half-published ${v2}`);
  assert.equal((await served('app.js')).includes('// version 2'), false, 'still the old app.js');
  assert.equal(await page.evaluate(() => document.body.dataset.offline), 'ready');

  // The publication completes: with no scan open the page switches at once and reloads.
  const v3 = writePrecacheManifest(site).version;
  await update();
  await page.waitForFunction((v) => document.body.dataset.offlineVersion === v, v3, { timeout: 60_000 });
  assert.deepEqual(await cacheNames(page), [`medseg-${v3}`], 'the old copy is gone');
  assert.ok((await served('app.js')).includes('// version 2'));
  assert.ok((await served('style.css')).includes('edited after the manifest'));

  // With a scan open the page keeps its version and offers the update instead.
  await page.evaluate(async () => {
    const bytes = await (await fetch('examples/cases/mni152_t1_2mm.nii.gz')).arrayBuffer();
    const dataTransfer = new DataTransfer();
    dataTransfer.items.add(new File([bytes], 'case.nii.gz'));
    document.dispatchEvent(new DragEvent('drop', { dataTransfer, bubbles: true, cancelable: true }));
  });
  await page.waitForFunction(() => document.body.dataset.state === 'ready');
  appendFileSync(join(site, 'app.js'), '// version 4\n');
  const v4 = writePrecacheManifest(site).version;
  await update();
  await page.waitForSelector('#update-app:not([hidden])', { timeout: 60_000 });
  assert.equal(await page.evaluate(() => document.body.dataset.offline), 'update');
  assert.equal((await served('app.js')).includes('// version 4'), false, 'the open page keeps its version');
  await page.click('#update-app');
  await page.waitForFunction((v) => document.body.dataset.offlineVersion === v, v4, { timeout: 60_000 });
  assert.deepEqual(await cacheNames(page), [`medseg-${v4}`]);
  assert.ok((await served('app.js')).includes('// version 4'));
});
