// Shared by the browser tests: a static server for www/ on 127.0.0.1, and headless Chromium.
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import * as nifti from 'nifti-reader-js';
import { writePrecacheManifest } from '../../scripts/precache.mjs';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const WWW = join(ROOT, 'www');
export const SHARED = resolve(ROOT, '../shared');
/** The native `medseg` binary the tests read saved files back with (built by `make test-browser`). */
export const MEDSEG_BIN = process.env.MEDSEG_BIN
  ?? join(process.env.CARGO_TARGET_DIR ?? join(process.env.HOME, '.cache/medseg-target'), 'debug/medseg');

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
  '.wasm': 'application/wasm', '.json': 'application/json', '.gz': 'application/gzip', '.png': 'image/png',
  '.webmanifest': 'application/manifest+json', '.md': 'text/plain; charset=utf-8', '.svg': 'image/svg+xml',
};

/** The response headers that make a page cross-origin isolated (as `make serve` and sw.js send them). */
export const ISOLATION = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

/**
 * Serves folders on 127.0.0.1 at a free port: `routes` are [URL prefix, folder] pairs, the first
 * matching prefix wins (default: www/ at /); `headers(path)` adds response headers. Resolves {origin, close}.
 */
export function serve(routes = [['/', WWW]], { headers = () => ({}) } = {}) {
  // The service worker's file list must describe the files served now (its hashes are checked).
  if (routes.some(([, dir]) => dir === WWW)) writePrecacheManifest(WWW);
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname));
    const route = routes.find(([prefix]) => path.startsWith(prefix));
    if (!route) return res.writeHead(404).end('not found');
    const [prefix, dir] = route;
    let file = join(dir, path.slice(prefix.length));
    if (!file.startsWith(dir)) return res.writeHead(403).end();
    try {
      if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', ...headers(path) });
      res.end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok({
    origin: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((done) => { server.closeAllConnections(); server.close(done); }),
  })));
}

/**
 * Headless Debian Chromium (a fresh profile each launch) with no background traffic. With `webgpu`,
 * `--enable-unsafe-webgpu` gives pages and workers a WebGPU adapter: SwiftShader, a CPU
 * implementation of Vulkan, in headless Chromium 156 without a GPU; no other flag is needed. Without
 * it `navigator.gpu.requestAdapter()` resolves to null, so the page's Auto backend runs on the CPU:
 * the default, because SwiftShader is 10–20× slower than the wasm CPU backend (gpu.test.mjs opts in).
 */
export function launch({ webgpu = false } = {}) {
  return chromium.launch(chromiumOptions(webgpu));
}

/**
 * Chromium as `launch` starts it, on the profile kept in `dir` (its HTTP cache, compiled-code cache
 * and service worker outlive the browser, as a returning visitor's do). Resolves a browser context.
 */
export function launchWithProfile(dir, { webgpu = false } = {}) {
  return chromium.launchPersistentContext(dir, chromiumOptions(webgpu));
}

function chromiumOptions(webgpu) {
  return {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', ...(webgpu ? ['--enable-unsafe-webgpu'] : []), '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
    ],
  };
}

/**
 * The longest any wait of a test may take. Tests wait on the page's events and state (a status
 * attribute, a shown message, a worker's state), never for a fixed time: this bound only ends a
 * hang, so it is far above what the slowest step (a model run on a loaded machine) needs.
 */
export const HANG_MS = 30 * 60_000;

/** A fresh browser context whose waits (waitForFunction, waitForSelector, click, …) end only on a hang. */
export async function newContext(browser, options = {}) {
  const context = await browser.newContext(options);
  context.setDefaultTimeout(HANG_MS);
  return context;
}

/**
 * One test file's session: the server, Chromium (`webgpu`: see `launch`), and a page at the app
 * that records every request. `close()` shuts down and returns the requests that left the page's origin.
 */
export async function openSession(viewport = { width: 1500, height: 700 }, { webgpu = false } = {}) {
  const server = await serve();
  const browser = await launch({ webgpu });
  const context = await newContext(browser, { viewport, acceptDownloads: true });
  const page = await context.newPage();
  const urls = [];
  page.on('request', (r) => urls.push(r.url()));
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(server.origin + '/');
  return {
    server,
    page,
    async close() {
      await browser.close();
      await server.close();
      return urls.filter((u) => !u.startsWith(server.origin + '/') && !u.startsWith('blob:') && !u.startsWith('data:'));
    },
  };
}

/**
 * Runs `act` (a file chosen, a folder, a series clicked) and waits until the open it starts has
 * finished: the page shows the scan, says why not, or asks which series (each finished open counts
 * in `document.body.dataset.opens`). Waiting for `state === 'ready'`, or for a shown message,
 * passes at once when a scan is already open or an earlier message is still shown, and a model
 * started then would run on the scan being replaced.
 */
export async function untilOpened(page, act) {
  const before = await page.evaluate(() => document.body.dataset.opens ?? '0');
  await act();
  await page.waitForFunction((b) => (document.body.dataset.opens ?? '0') !== b, before);
}

/** Opens `files` through the page's "Open scan" input and waits until that open has finished. */
export function openScanFiles(page, files) {
  return untilOpened(page, () => page.setInputFiles('#open-scan', files));
}

/**
 * Drags a box with the Box tool on the page's axial view from voxel `a` to voxel `b` ([i, j, k]);
 * resolves with the page's dataset once MedSAM's mask is back (medsamMs, medsamEncoded, …).
 */
export async function dragMedsamBox(page, a, b) {
  const boxes = Number(await page.evaluate(() => document.body.dataset.medsamBoxes ?? 0));
  const [from, to] = await page.evaluate(([p, q]) => [window.medsegViewer.screenOf('axial', p), window.medsegViewer.screenOf('axial', q)], [a, b]);
  await page.mouse.move(...from);
  await page.mouse.down();
  await page.mouse.move((from[0] + to[0]) / 2, (from[1] + to[1]) / 2);
  await page.mouse.move(...to);
  await page.mouse.up();
  await page.waitForFunction((n) => Number(document.body.dataset.medsamBoxes ?? 0) > n, boxes);
  return page.evaluate(() => ({ ...document.body.dataset }));
}

/**
 * {dims, values, header} of a NIfTI file read in Node (nifti-reader-js), values x fastest in the
 * file's type, or as float64 when it asks for scaling: how the tests read back what the page saves.
 */
export function readNifti(path) {
  const bytes = readFileSync(path);
  let data = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
  if (nifti.isCompressed(data)) data = nifti.decompress(data);
  const header = nifti.readHeader(data);
  const types = { 2: Uint8Array, 4: Int16Array, 8: Int32Array, 16: Float32Array, 64: Float64Array, 256: Int8Array, 512: Uint16Array, 768: Uint32Array };
  const Type = types[header.datatypeCode];
  if (!Type) throw new Error(`${path}: datatype ${header.datatypeCode} is not read by the tests`);
  const stored = new Type(nifti.readImage(header, data));
  const slope = header.scl_slope || 1;
  const values = slope === 1 && !header.scl_inter ? stored : Float64Array.from(stored, (v) => v * slope + header.scl_inter);
  return { dims: header.dims.slice(1, 4), values, header };
}
