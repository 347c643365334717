// Offline: the service worker keeps the app shell, the wasm and the committed models, so after
// one visit the page starts, opens a dropped scan and runs deepbet with the network off; updates
// replace the offline copy whole, never file by file, and never reload a tab with work in it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { serve, launch, newContext, ROOT, WWW } from './harness.mjs';
import { precacheManifest, writePrecacheManifest } from '../../scripts/precache.mjs';

const CASE = join(ROOT, 'www/examples/cases/mni152_t1_2mm.nii.gz');
const cleanups = [];
after(async () => {
  for (const f of cleanups.reverse()) await f();
});

async function start(routes) {
  const server = await serve(routes);
  const browser = await launch();
  const context = await newContext(browser, { viewport: { width: 1400, height: 800 }, acceptDownloads: true });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  cleanups.push(async () => { await browser.close(); await server.close(); });
  return { server, context, page };
}

const cacheNames = (page) => page.evaluate(async () => (await caches.keys()).filter((k) => k.startsWith('medseg-')));
const offlineReady = (page) => page.waitForFunction(() => document.body.dataset.offline === 'ready');
const offlineVersion = (page) => page.evaluate(() => document.body.dataset.offlineVersion);
/** The text of a file as the page gets it (from the service worker's cache when it is precached). */
const served = (page, path) => page.evaluate((p) => fetch(p).then((r) => r.text()), path);

/** Drops the scan at `path` (read here, so the page needs no network for it) on the viewer. */
async function dropScan(page, path) {
  await page.evaluate(async (b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dataTransfer = new DataTransfer();
    dataTransfer.items.add(new File([bytes], 'mni152_t1_2mm.nii.gz'));
    document.getElementById('viewer').dispatchEvent(new DragEvent('drop', { dataTransfer, bubbles: true, cancelable: true }));
  }, readFileSync(path).toString('base64'));
  await page.waitForFunction(() => document.body.dataset.state === 'ready');
}

/**
 * A copy of www/ to publish new versions from: links to everything but copies of `edited` files,
 * and its own sw-manifest.js. Returns the folder and its first version.
 */
function site(edited) {
  const dir = mkdtempSync(join(tmpdir(), 'medseg-site-'));
  for (const name of readdirSync(WWW)) {
    if (name === 'sw-manifest.js') continue;
    if (edited.includes(name)) copyFileSync(join(WWW, name), join(dir, name));
    else symlinkSync(join(WWW, name), join(dir, name));
  }
  return { dir, version: writePrecacheManifest(dir).version };
}

/** Has the browser look for a new version now; resolves once it is installed or has failed. */
async function update(page) {
  await page.evaluate(async () => {
    const registration = await navigator.serviceWorker.getRegistration();
    await registration.update();
    window.newWorker = registration.installing;
  });
  await page.waitForFunction(() => window.newWorker?.state !== 'installing');
}

/** Whether cache medseg-`version` holds a complete copy (the mark sw.js writes last). */
const complete = (page, version) => page.evaluate(async (name) => (await caches.has(name))
  && !!(await (await caches.open(name)).match('__complete__')), `medseg-${version}`);

test('offline: visit once, go offline, reload — the app starts, opens a dropped scan and runs deepbet', async () => {
  const { server, context, page } = await start();
  const manifest = precacheManifest(WWW);
  assert.ok(manifest.models.includes('deepbet'), 'the committed model is part of the offline copy');
  await page.goto(server.origin + '/');
  await offlineReady(page);
  assert.equal(await page.evaluate(() => self.crossOriginIsolated), false, 'this server sends no isolation headers');
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
  await offlineReady(page);
  // The service worker's copy carries the isolation headers (sw.js): the threaded build may run.
  assert.equal(await page.evaluate(() => self.crossOriginIsolated), true, 'isolated once the service worker serves the page');
  // The indicator follows the browser's online/offline events.
  await page.waitForFunction(() => /you are offline/.test(document.getElementById('offline-status').textContent));
  // The network really is off: a file outside the offline copy cannot be fetched.
  assert.equal(await page.evaluate(() => fetch('sample/mni152_t1.nii.gz').then((r) => `status ${r.status}`, () => 'failed')), 'failed');

  await dropScan(page, CASE);
  assert.equal((await page.textContent('#scan-dims')).trim(), '98 × 116 × 94');

  // The committed model is offered as available (its HEAD check is answered from the cache) and runs.
  await page.waitForFunction(() => [...document.querySelectorAll('#model-picker option')].some((o) => o.value === 'deepbet'));
  assert.doesNotMatch(await page.$eval('#model-picker option[value=deepbet]', (o) => o.textContent), /not downloaded/);
  await page.selectOption('#model-picker', 'deepbet');
  await page.click('#run-model');
  await page.waitForFunction(() => document.body.dataset.segmented === 'deepbet' || !document.getElementById('message').hidden);
  assert.equal(await page.isHidden('#message'), true, await page.textContent('#message'));
  const rows = await page.$$eval('#label-table tbody tr', (trs) => trs.map((tr) => ({ name: tr.cells[2].textContent.trim(), voxels: Number(tr.dataset.count), ml: Number(tr.cells[4].textContent) })));
  assert.equal(rows.length, 1);
  assert.equal(rows[0].name, 'Brain');
  assert.ok(rows[0].ml > 1000 && rows[0].ml < 2300, `brain volume ${rows[0].ml} mL`);
  const status = await page.textContent('#model-result');
  // The default threads are the cores (at most 8): more than one runs the threaded build here.
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  assert.match(status, cores > 1 ? / · threaded build, \d+ threads/ : / · single-threaded build$/m, status);
  console.log(`# offline deepbet: ${status}; brain ${rows[0].ml} mL`);
  await page.screenshot({ path: join(ROOT, 'tests/e2e/screenshots/offline_deepbet.png') });
});

test('an update replaces the offline copy whole: a bad one leaves the live copy working offline, a change to sw.js alone is a new version', async () => {
  const { dir, version: v1 } = site(['style.css', 'sw.js']);
  const { server, context, page } = await start([['/', dir]]);
  await page.goto(server.origin + '/');
  await offlineReady(page);
  await page.reload(); // now served by the service worker
  await offlineReady(page);
  assert.equal(await offlineVersion(page), v1);

  // A bad update: sw.js changed, then style.css changed after the manifest was written (the server
  // now holds files from two versions). The new copy fails its hash check and is dropped; the live
  // one is never touched, so the page still works offline.
  appendFileSync(join(dir, 'sw.js'), '\n// version 2\n');
  const v2 = writePrecacheManifest(dir).version;
  assert.notEqual(v2, v1, 'a change to sw.js alone is a new version');
  appendFileSync(join(dir, 'style.css'), '\n/* edited after the manifest */\n');
  await update(page);
  assert.deepEqual(await cacheNames(page), [`medseg-${v1}`], `no cache of the half-published ${v2}`);
  assert.equal(await complete(page, v1), true, 'the live copy is whole');
  await context.setOffline(true);
  await page.reload();
  await offlineReady(page);
  assert.equal(await offlineVersion(page), v1);
  assert.equal((await served(page, 'sw.js')).includes('// version 2'), false, 'still the old sw.js');
  await context.setOffline(false);

  // The publication completes: the page is idle (nothing open), so the new version takes over at
  // once, the page reloads, and the new copy works offline.
  const v3 = writePrecacheManifest(dir).version;
  await update(page);
  await page.waitForFunction((v) => document.body.dataset.offlineVersion === v, v3);
  assert.deepEqual(await cacheNames(page), [`medseg-${v3}`], 'the old copy is gone');
  await context.setOffline(true);
  await page.reload();
  await offlineReady(page);
  assert.ok((await served(page, 'sw.js')).includes('// version 2'));
  assert.ok((await served(page, 'style.css')).includes('edited after the manifest'));
  await dropScan(page, CASE);
  assert.equal((await page.textContent('#scan-dims')).trim(), '98 × 116 × 94');
});

test('a tab with a running model or unsaved labels holds an update back: every tab offers Update, none reloads until it is clicked', async () => {
  const { dir, version: v1 } = site(['app.js']);
  const { server, context, page: idle } = await start([['/', dir]]);
  await idle.goto(server.origin + '/');
  await offlineReady(idle);
  await idle.reload();
  const busy = await context.newPage();
  busy.on('pageerror', (e) => console.error('page error:', e.message));
  await busy.goto(server.origin + '/');
  const tabs = [idle, busy];
  for (const tab of tabs) {
    await offlineReady(tab);
    await tab.evaluate(() => { window.notReloaded = true; });
  }
  const offersUpdate = async (tab) => {
    await tab.waitForSelector('#update-app:not([hidden])');
    assert.equal(await tab.evaluate(() => document.body.dataset.offline), 'update');
    assert.equal(await offlineVersion(tab), v1);
  };

  // A running model: deepbet on the 2 mm MNI152 takes minutes here, so it is still running when
  // the new version is installed.
  await dropScan(busy, CASE);
  await busy.waitForSelector('#model-picker option[value=deepbet]', { state: 'attached' });
  await busy.selectOption('#model-picker', 'deepbet');
  await busy.click('#run-model');
  await busy.waitForSelector('#cancel-model:not([hidden])');
  appendFileSync(join(dir, 'app.js'), '\n// version 2\n');
  const v2 = writePrecacheManifest(dir).version;
  await update(idle);
  for (const tab of tabs) await offersUpdate(tab);
  assert.equal((await served(idle, 'app.js')).includes('// version 2'), false, 'the tabs keep their version');
  await busy.click('#cancel-model');

  // Unsaved labels: a MedSAM box's object is not saved yet, so a tab opened now offers the update too.
  await busy.evaluate(() => window.medsegBoxTool.segmentBox(2, 47, [20, 30, 80, 90]));
  await busy.waitForFunction(() => document.body.dataset.medsamBoxes === '1' || !document.getElementById('message').hidden);
  assert.equal(await busy.isHidden('#message'), true, await busy.textContent('#message'));
  const late = await context.newPage();
  await late.goto(server.origin + '/');
  await offersUpdate(late);
  for (const tab of tabs) assert.equal(await tab.evaluate(() => window.notReloaded), true, 'no tab reloaded');

  // Clicking Update applies it: every tab reloads with the new version.
  await busy.click('#update-app');
  for (const tab of [...tabs, late]) {
    await tab.waitForFunction((v) => document.body.dataset.offlineVersion === v, v2);
    assert.equal(await tab.evaluate(() => window.notReloaded), undefined);
  }
  assert.deepEqual(await cacheNames(idle), [`medseg-${v2}`]);
  assert.ok((await served(idle, 'app.js')).includes('// version 2'));
});
