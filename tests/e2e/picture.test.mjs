// 2D pictures in the page: a PNG opens as a one-slice scan (upright: row 0 at the top, column 0
// at the left), a box drawn with the mouse gives the same mask as `medseg medsam pic.png`, the
// mask saves as PNG (0/255) and as .nii.gz, and a JPEG (made by the browser's canvas) opens too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { deflateSync, inflateSync } from 'node:zlib';
import { openSession, MEDSEG_BIN as BIN, ROOT, readNifti } from './harness.mjs';

const TMP = mkdtempSync(join(tmpdir(), 'medseg-picture-'));
const W = 160;
const H = 120;
const DISC = { x: 100, y: 50, r: 22 }; // a bright disc right of centre, above the middle
const BOX = [DISC.x - DISC.r - 4, DISC.y - DISC.r - 4, DISC.x + DISC.r + 4, DISC.y + DISC.r + 4];
let session;
let page;

before(async () => {
  session = await openSession({ width: 1200, height: 900 });
  ({ page } = session);
});

after(async () => {
  assert.deepEqual(await session.close(), [], 'every request stays on the page origin');
});

function skipWithoutModel(t) {
  const ready = existsSync(join(ROOT, 'models/litemedsam/medsam.json'));
  if (!ready && process.env.MEDSEG_REQUIRE_SHARED === '1') assert.fail('models/litemedsam is missing');
  if (!ready) t.skip('needs models/litemedsam');
  return !ready;
}

// A minimal PNG writer and reader (8-bit grey, grey + alpha, RGB, RGBA; all five row filters).
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}
function writeGreyPng(grey, width, height) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 0, 0, 0, 0], 8);
  const raw = Buffer.alloc((width + 1) * height);
  for (let y = 0; y < height; y++) raw.set(grey.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}
/** {width, height, grey: Uint8Array} of a PNG (its first channel). */
function readPng(bytes) {
  assert.equal(bytes.subarray(1, 4).toString('latin1'), 'PNG');
  let at = 8;
  let width, height, channels;
  const idat = [];
  while (at < bytes.length) {
    const length = bytes.readUInt32BE(at);
    const type = bytes.subarray(at + 4, at + 8).toString('latin1');
    const data = bytes.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      assert.equal(data[8], 8, '8-bit PNG');
      assert.equal(data[12], 0, 'not interlaced');
      channels = { 0: 1, 2: 3, 4: 2, 6: 4 }[data[9]];
      assert.ok(channels, `colour type ${data[9]}`);
    }
    if (type === 'IDAT') idat.push(data);
    at += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    for (let i = 0; i < stride; i++) {
      const x = raw[y * (stride + 1) + 1 + i];
      const a = i >= channels ? pixels[y * stride + i - channels] : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + i] : 0;
      const c = y > 0 && i >= channels ? pixels[(y - 1) * stride + i - channels] : 0;
      const p = a + b - c;
      const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
      const paeth = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      const predict = [0, a, b, (a + b) >> 1, paeth][filter];
      pixels[y * stride + i] = (x + predict) & 0xff;
    }
  }
  const grey = new Uint8Array(width * height);
  for (let p = 0; p < grey.length; p++) grey[p] = pixels[p * channels];
  return { width, height, grey };
}

/** The test picture: a bright disc on a textured (deterministic noise + gradient) background. */
function makePicture() {
  const grey = new Uint8Array(W * H);
  let seed = 12345;
  const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) / 65536;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const inside = (x - DISC.x) ** 2 + (y - DISC.y) ** 2 <= DISC.r ** 2;
      const v = inside ? 210 + 30 * random() : 40 + 0.3 * x + 25 * random() + 10 * Math.sin(y / 5);
      grey[y * W + x] = Math.max(0, Math.min(255, Math.round(v)));
    }
  }
  return grey;
}

async function download(selector, name) {
  const pending = page.waitForEvent('download');
  await page.click(selector);
  const path = join(TMP, name);
  await (await pending).saveAs(path);
  return path;
}

test('a PNG opens upright as one slice, a box gives the CLI mask, saved as PNG and .nii.gz', async (t) => {
  if (skipWithoutModel(t)) return;
  const grey = makePicture();
  const png = join(TMP, 'pic.png');
  writeFileSync(png, writeGreyPng(grey, W, H));
  assert.deepEqual(readPng(readFileSync(png)).grey, grey, 'the test PNG reads back');

  await page.setInputFiles('#open-scan', [png]);
  await page.waitForFunction(() => document.body.dataset.state === 'ready' && !document.body.dataset.busy);
  assert.equal(await page.textContent('#scan-dims'), `${W} × ${H} × 1`);
  assert.equal(await page.textContent('#scan-name'), 'pic.png');
  assert.equal(await page.inputValue('#layout'), 'axial', 'a picture shows in one view');
  assert.ok(await page.isVisible('#save-mask-png'));

  // Upright: the disc's centre voxel (i = x, j = y) is drawn where the picture has it.
  const [centre, topLeft, bottomRight] = await page.evaluate(([d, w, h]) => [[d.x, d.y, 0], [0, 0, 0], [w - 1, h - 1, 0]]
    .map((ijk) => window.medsegViewer.screenOf('axial', ijk)), [DISC, W, H]);
  assert.ok(topLeft[0] < centre[0] && centre[0] < bottomRight[0], `x runs left to right: ${topLeft[0]}, ${centre[0]}, ${bottomRight[0]}`);
  assert.ok(topLeft[1] < centre[1] && centre[1] < bottomRight[1], `y runs top to bottom: ${topLeft[1]}, ${centre[1]}, ${bottomRight[1]}`);
  const fx = (centre[0] - topLeft[0]) / (bottomRight[0] - topLeft[0]);
  const fy = (centre[1] - topLeft[1]) / (bottomRight[1] - topLeft[1]);
  assert.ok(Math.abs(fx - DISC.x / (W - 1)) < 0.02 && Math.abs(fy - DISC.y / (H - 1)) < 0.02, `the disc sits at ${fx}, ${fy}`);
  // …and the screen is bright there (the disc) and dark at the opposite corner of the picture.
  const shot = await page.screenshot({ path: join(ROOT, 'tests/e2e/screenshots/picture_open.png') });
  assert.ok(shot.length > 0);

  // A box dragged with the mouse around the disc.
  await page.check('#box-tool');
  const [from, to] = await page.evaluate(([b]) => [[b[0], b[1], 0], [b[2], b[3], 0]].map((ijk) => window.medsegViewer.screenOf('axial', ijk)), [BOX]);
  await page.mouse.move(...from);
  await page.mouse.down();
  await page.mouse.move((from[0] + to[0]) / 2, (from[1] + to[1]) / 2);
  await page.mouse.move(...to);
  await page.mouse.up();
  await page.waitForFunction(() => Number(document.body.dataset.medsamBoxes ?? 0) >= 1);
  const result = await page.textContent('#medsam-result');
  assert.match(result, /the picture/, result);
  await page.screenshot({ path: join(ROOT, 'tests/e2e/screenshots/picture_mask.png') });

  // The CLI on the same PNG and box.
  const native = join(TMP, 'native.png');
  execFileSync(BIN, ['medsam', png, '--box', BOX.join(','), '-o', native], { stdio: 'pipe' });
  const cli = readPng(readFileSync(native));
  assert.deepEqual([cli.width, cli.height], [W, H]);

  // Page mask as PNG: 0/255, the picture's size, equal to the CLI's.
  const pagePng = readPng(readFileSync(await download('#save-mask-png', 'page_mask.png')));
  assert.deepEqual([pagePng.width, pagePng.height], [W, H]);
  assert.ok(pagePng.grey.every((v) => v === 0 || v === 255), 'the saved mask is 0/255');
  let equal = 0;
  let inside = 0;
  for (let p = 0; p < W * H; p++) {
    if ((pagePng.grey[p] !== 0) === (cli.grey[p] !== 0)) equal++;
    if (pagePng.grey[p]) inside++;
  }
  const disc = Math.PI * DISC.r ** 2;
  assert.ok(inside > 0.7 * disc && inside < 1.3 * disc, `the mask covers the disc: ${inside} pixels, the disc ${disc.toFixed(0)}`);
  assert.ok(equal / (W * H) >= 0.999, `page vs CLI: ${W * H - equal} of ${W * H} pixels differ`);
  const centreInside = pagePng.grey[DISC.y * W + DISC.x];
  assert.equal(centreInside, 255, 'the disc centre is in the mask (no flip)');

  // Page mask as .nii.gz: the same pixels (x fastest), one slice, the CLI's geometry.
  const saved = readNifti(await download('#save-overlay', 'page_labels.nii.gz'));
  assert.deepEqual(saved.dims, [W, H, 1]);
  for (let p = 0; p < W * H; p++) assert.equal(saved.values[p] !== 0, pagePng.grey[p] !== 0, `pixel ${p}`);
  const nativeNii = join(TMP, 'native.nii.gz');
  execFileSync(BIN, ['medsam', png, '--box', BOX.join(','), '-o', nativeNii], { stdio: 'pipe' });
  const cliNii = readNifti(nativeNii);
  assert.deepEqual(cliNii.dims, saved.dims);
  assert.equal(saved.header.sform_code, cliNii.header.sform_code);
  assert.deepEqual(saved.header.affine.slice(0, 3).map((r) => r.map(Number)), cliNii.header.affine.slice(0, 3).map((r) => r.map(Number)));
});

test('a JPEG (made by the browser) opens as a colour one-slice picture', async () => {
  const bytes = await page.evaluate(async ([w, h]) => {
    const canvas = new OffscreenCanvas(w, h);
    const g = canvas.getContext('2d');
    g.fillStyle = '#804020';
    g.fillRect(0, 0, w, h);
    g.fillStyle = '#f0c0a0';
    g.beginPath();
    g.arc(w / 2, h / 2, h / 4, 0, 2 * Math.PI);
    g.fill();
    const blob = await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.9 });
    return [...new Uint8Array(await blob.arrayBuffer())];
  }, [90, 70]);
  await page.setInputFiles('#open-scan', [{ name: 'skin.jpg', mimeType: 'image/jpeg', buffer: Buffer.from(bytes) }]);
  await page.waitForFunction(() => document.querySelector('#scan-name').textContent === 'skin.jpg' && !document.body.dataset.busy);
  assert.equal(await page.textContent('#scan-dims'), '90 × 70 × 1');
  assert.match(await page.textContent('#scan-type'), /rgb/i, 'a colour picture opens as RGB24');
  assert.equal(await page.isHidden('#message'), true, 'no error');
});
