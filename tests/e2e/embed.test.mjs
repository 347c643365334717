// Embedding: the <medseg-viewer> element on the teaching example page (two cases, one segmented),
// inside a page with a strict Content-Security-Policy of its own, and the iframe mode of the app.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { serve, launch, newContext, HANG_MS, ROOT, WWW } from './harness.mjs';

const FIXTURES = mkdtempSync(join(tmpdir(), 'medseg-embed-'));
/**
 * A teacher's page that allows nothing but its own origin: no inline code or styles, no eval, not
 * even 'wasm-unsafe-eval' (the wasm runs in the element's workers, which have their own policy).
 */
const STRICT_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
  + "connect-src 'self'; worker-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

let server;
let browser;
let context;
const requests = [];
const violations = [];

before(async () => {
  for (const f of ['www/sample/mni152_t1.nii.gz', 'www/examples/cases/mni152_t1_2mm.nii.gz', 'www/examples/cases/mni152_intensity.json']) {
    assert.ok(existsSync(join(ROOT, f)), `${f} is made by scripts/setup.sh sample`);
  }
  writeFileSync(join(FIXTURES, 'strict.html'), `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A strict teaching page</title>
<script type="module" src="/medseg.js"></script></head>
<body><h1>Strict page</h1>
<medseg-viewer id="strict" scan="/examples/cases/mni152_t1_2mm.nii.gz" view="sagittal" slice="50" window="full" crosshair="40 60 50"></medseg-viewer>
<medseg-viewer id="api"></medseg-viewer>
</body></html>`);
  writeFileSync(join(FIXTURES, 'iframe.html'), `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>An iframe embed</title></head>
<body><iframe id="embed" width="800" height="420" title="medseg"
 src="/index.html?embed=1&amp;scan=examples/cases/mni152_t1_2mm.nii.gz&amp;overlay=examples/cases/mni152_intensity_2mm_missing.nii.gz&amp;view=axial&amp;slice=40"></iframe></body></html>`);
  server = await serve([['/fixtures/', FIXTURES], ['/', WWW]], {
    headers: (path) => (path.startsWith('/fixtures/') ? { 'content-security-policy': STRICT_CSP } : {}),
  });
  browser = await launch();
  context = await newContext(browser, { viewport: { width: 1200, height: 900 } });
  // Every request of the pages, their workers and service worker.
  context.on('request', (r) => requests.push(r.url()));
  context.on('console', (m) => { if (/Content.Security.Policy|Refused to/i.test(m.text())) violations.push(m.text()); });
});

after(async () => {
  await browser.close();
  await server.close();
  const foreign = requests.filter((u) => !u.startsWith(server.origin + '/') && !u.startsWith('blob:') && !u.startsWith('data:'));
  assert.deepEqual(foreign, [], 'every request stays on the page origin');
});

/** Per element: lit fraction and grey levels of each visible canvas in its shadow root. */
function canvasStats(page, selector) {
  return page.$eval(selector, (el) => [...el.shadowRoot.querySelectorAll('.view:not([hidden]) canvas')].map((c) => {
    const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
    let lit = 0;
    const seen = new Set();
    for (let i = 0; i < data.length; i += 4) {
      if (data[i] + data[i + 1] + data[i + 2] > 30) lit++;
      seen.add(data[i]);
    }
    return { lit: lit / (data.length / 4), levels: seen.size, width: c.width };
  }));
}

function assertDrawn(stats, what) {
  assert.ok(stats.length > 0, `${what}: no visible view`);
  for (const { lit, levels, width } of stats) {
    assert.ok(width > 100 && lit > 0.03 && levels > 8, `${what}: a view is blank (width ${width}, lit ${lit}, ${levels} levels)`);
  }
}

let examplePage;

test('the teaching example page: both elements load their cases and draw non-blank slices', async () => {
  const page = await context.newPage();
  examplePage = page;
  page.on('pageerror', (e) => assert.fail(`page error: ${e.message}`));
  await page.goto(server.origin + '/examples/');
  await page.waitForFunction(() => [...document.querySelectorAll('medseg-viewer')].every((e) => e.dataset.state === 'ready'));
  const shown = await page.$$eval('medseg-viewer', (els) => els.map((e) => ({
    id: e.id,
    slice: e.getSlice(),
    layout: e.shadowRoot.querySelector('.views').dataset.layout,
    status: e.shadowRoot.querySelector('.status').textContent,
    volumes: e.getLabelVolumes(),
    offered: [...e.shadowRoot.querySelectorAll('.bar option')].map((o) => o.value),
  })));
  assert.deepEqual(shown.map((s) => s.id), ['case-intensity', 'case-resolution']);
  assert.match(shown[0].status, /197×233×189/);
  assert.match(shown[1].status, /98×116×94 · 2\.00×2\.00×2\.00 mm/);
  assert.deepEqual([shown[0].layout, shown[0].slice], ['axial', 95], 'view="axial" slice="95"');
  assert.deepEqual([shown[1].layout, shown[1].slice], ['coronal', 60], 'view="coronal" slice="60"');
  // Case 1's overlay and its JSON sidecar: three named classes with volumes from the 1 mm voxels.
  const classes = shown[0].volumes;
  assert.equal(classes.length, 3);
  assert.match(classes[0].name, /^dark \(CSF-like\)/);
  for (const c of classes) assert.ok(c.voxels > 10_000 && Math.abs(c.mL - c.voxels / 1000) < 1e-9, JSON.stringify(c));
  assert.deepEqual(shown[1].volumes, [], 'case 2 starts without an overlay');
  assert.deepEqual(shown[0].offered, ['deepbet']);
  assert.deepEqual(shown[1].offered, ['deepbet', 'model5_gw_ae']);
  assertDrawn(await canvasStats(page, '#case-intensity'), 'case 1');
  assertDrawn(await canvasStats(page, '#case-resolution'), 'case 2');
  // The elements are independent: moving one's slice leaves the other's alone.
  await page.$eval('#case-resolution', (e) => e.setSlice(30));
  assert.deepEqual(await page.$$eval('medseg-viewer', (els) => els.map((e) => e.getSlice())), [95, 30]);
  await page.screenshot({ path: join(ROOT, 'tests/e2e/screenshots/examples.png'), fullPage: true });
});

test('an element on the example page runs a model and fires `segmented` with label volumes', { timeout: HANG_MS }, async () => {
  const page = examplePage;
  // model5_gw_ae (≈16 s in wasm) where `make test-browser` fetched it, else the committed deepbet (minutes).
  const model = existsSync(join(ROOT, 'models/model5_gw_ae/model.json')) ? 'model5_gw_ae' : 'deepbet';
  const result = await page.$eval('#case-resolution', (el, model) => new Promise((resolve, reject) => {
    const stages = new Set();
    const events = []; // [stage, fraction]
    const started = performance.now();
    el.addEventListener('progress', (e) => {
      stages.add(e.detail.stage);
      events.push([e.detail.stage, e.detail.fraction]);
    });
    el.addEventListener('error', (e) => reject(new Error(e.detail.message)));
    el.addEventListener('segmented', (e) => resolve({
      detail: e.detail, stages: [...stages], events, seconds: (performance.now() - started) / 1000, volumes: el.getLabelVolumes(),
    }));
    el.segment(model).catch(reject);
  }), model);
  assert.equal(result.detail.model, model);
  assert.ok(result.stages.includes('running the model'), `progress events name the stages: ${result.stages}`);
  // The network reports before each of its nodes; the worker passes a new stage on at once and the
  // fraction at most every 100 ms, so the page's main thread is not kept busy (and the fraction still moves).
  const running = result.events.filter(([stage]) => stage === 'running the model').map(([, fraction]) => fraction);
  assert.ok(running.length >= 2 && running.at(-1) > running[0], `the fraction moves while the model runs: ${running}`);
  const most = result.stages.length + Math.ceil(result.seconds * 10) + 10;
  assert.ok(result.events.length <= most, `${result.events.length} progress events in ${result.seconds.toFixed(1)} s (at most ${most})`);
  assert.deepEqual(result.detail.volumes, result.volumes, 'the event carries getLabelVolumes()');
  // The teaching page (strict CSP, served without isolation headers) runs the single-threaded build.
  assert.equal(result.detail.build, 'single-threaded build (the page is not cross-origin isolated)');
  assert.equal(result.detail.threads, 1);
  const volumes = result.volumes;
  if (model === 'deepbet') {
    assert.deepEqual(volumes.map((v) => v.name), ['Brain']);
  } else {
    assert.deepEqual(volumes.map((v) => v.name), ['White Matter', 'Grey Matter']);
  }
  for (const v of volumes) assert.equal(v.mL, (v.voxels * 8) / 1000, 'mL from the 2 mm voxels');
  const total = volumes.reduce((s, v) => s + v.mL, 0);
  // The MNI152 template's brain is about 1.5–1.9 L; tissue classes cover most of it.
  assert.ok(total > 900 && total < 2300, `brain volume ${total} mL`);
  assert.ok(await page.$eval('#case-resolution', (e) => e.shadowRoot.querySelector('.legend').textContent.includes('mL')));
  // The other element kept its own overlay.
  assert.equal((await page.$eval('#case-intensity', (e) => e.getLabelVolumes())).length, 3);
  await page.screenshot({ path: join(ROOT, 'tests/e2e/screenshots/examples_segmented.png'), fullPage: true });
  await page.close();
});

test('the element works inside a page with a strict CSP, through attributes and the JS API', async () => {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(server.origin + '/fixtures/strict.html');
  await page.waitForFunction(() => document.getElementById('strict').dataset.state === 'ready');
  assert.equal(await page.$eval('#strict', (e) => e.getSlice()), 50);
  assertDrawn(await canvasStats(page, '#strict'), 'strict page, attributes');
  // The element's stylesheet applied (a <link> in its shadow root, allowed by style-src 'self').
  assert.equal(await page.$eval('#strict', (e) => getComputedStyle(e.shadowRoot.querySelector('.views')).display), 'grid');
  // The JS API: bytes in, `loaded` out, setSlice, and a clear `error` for a bad file.
  const loaded = await page.$eval('#api', async (el) => {
    const bytes = new Uint8Array(await (await fetch('/sample/mni152_t1.nii.gz')).arrayBuffer());
    const event = new Promise((resolve) => el.addEventListener('loaded', (e) => resolve(e.detail), { once: true }));
    const info = await el.load(bytes);
    const detail = await event;
    el.setSlice(70, 'axial');
    return { dims: info.dims, eventDims: detail.info.dims, slice: el.getSlice('axial'), ms: detail.firstSliceMs };
  });
  assert.deepEqual(loaded.dims.slice(0, 3), [197, 233, 189]);
  assert.deepEqual(loaded.eventDims, loaded.dims);
  assert.equal(loaded.slice, 70);
  assertDrawn(await canvasStats(page, '#api'), 'strict page, load(bytes)');
  const failed = await page.$eval('#api', async (el) => {
    const event = new Promise((resolve) => el.addEventListener('error', (e) => resolve(e.detail.message), { once: true }));
    const rejected = await el.load(new TextEncoder().encode('not a scan at all, only words '.repeat(20))).then(() => null, (e) => e.message);
    return { rejected, event: await event, stillShown: el.getSlice('axial') };
  });
  assert.match(failed.rejected, /not a scan file medseg reads/);
  assert.equal(failed.event, failed.rejected);
  assert.equal(failed.stillShown, 70, 'the previous scan stays');
  assert.deepEqual(errors, []);
  assert.deepEqual(violations, [], 'no Content-Security-Policy violation');
  await page.close();
});

test('iframe mode: index.html?embed=1 shows the viewer alone, inside a strict page', async () => {
  const page = await context.newPage();
  await page.goto(server.origin + '/fixtures/iframe.html');
  const frame = page.frameLocator('#embed');
  const inner = page.frames().find((f) => f.url().includes('embed=1'));
  await inner.waitForFunction(() => document.body.dataset.state === 'ready');
  assert.equal(await frame.locator('.toolbar').isHidden(), true, 'no toolbar');
  assert.equal(await frame.locator('aside').isHidden(), true, 'no side panel');
  assert.equal(await inner.$eval('#viewer', (v) => v.dataset.layout), 'axial');
  // A missing overlay is reported in the frame, and the scan stays.
  await inner.waitForSelector('#message:not([hidden])');
  assert.match(await inner.textContent('#message'), /label map/);
  const stats = await inner.$$eval('.view:not([hidden]) canvas', (cs) => cs.map((c) => {
    const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
    let lit = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i] > 10) lit++;
    return lit / (data.length / 4);
  }));
  assert.equal(stats.length, 1);
  assert.ok(stats[0] > 0.03, `the embedded slice is drawn (${stats[0]})`);
  assert.deepEqual(violations, [], 'no Content-Security-Policy violation');
  await page.close();
});
