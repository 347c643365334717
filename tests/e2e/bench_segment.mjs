// Browser benchmark (not a test): one catalog model on one scan in the real page (www/, served by
// the harness, headless Chromium, wasm, 1 thread). Opens the scan, picks the model, clicks Run and
// waits for the overlay. Prints, per run: the inference time the page reports (Segmenter.run in the
// worker), the wall time from the click to the overlay (adds fetching the model, starting the worker,
// compiling wasm, decoding the scan in the worker and counting labels), and the segment worker's
// wasm memory at the end (WebAssembly memory only grows, so that is its peak).
// Usage: node bench_segment.mjs MODEL SCAN [RUNS]   (RUNS defaults to 1; median when more)
import { resolve } from 'node:path';
import { launch, serve } from './harness.mjs';

const [model, scanArg, runsArg = '1'] = process.argv.slice(2);
if (!model || !scanArg) {
  console.error('usage: node bench_segment.mjs MODEL SCAN [RUNS]');
  process.exit(2);
}
const scan = resolve(scanArg);
const runs = Number(runsArg);
const TIMEOUT = 60 * 60_000;
const server = await serve();
const browser = await launch();
const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];
const results = [];

for (let run = 0; run < runs; run++) {
  const page = await browser.newPage({ viewport: { width: 1500, height: 800 } });
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(server.origin + '/');
  await page.setInputFiles('#open-scan', [scan]);
  await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 120_000 });
  await page.waitForFunction((m) => [...document.querySelectorAll('#model-picker option')].some((o) => o.value === m), model);
  await page.selectOption('#model-picker', model);
  const clicked = Date.now();
  await page.click('#run-model');
  const outcome = await page.waitForFunction((m) => {
    if (document.body.dataset.segmented === m) return 'done';
    const message = document.getElementById('message');
    return !message.hidden && message.textContent ? `error: ${message.textContent}` : false;
  }, model, { timeout: TIMEOUT, polling: 200 }).then((h) => h.jsonValue());
  const wallSeconds = (Date.now() - clicked) / 1000;
  if (outcome !== 'done') {
    console.log(`${model} on ${scanArg}: run ${run + 1} FAILED after ${wallSeconds.toFixed(1)} s — ${outcome}`);
    await page.close();
    process.exitCode = 1;
    break;
  }
  // "<title>: done in 12.3 s · wasm memory 456 MB" (www/segment.js), from the worker's 'done' message.
  const text = await page.textContent('#model-result');
  const [, seconds, wasmMB] = text.match(/done in ([\d.]+) s · wasm memory (\d+) MB/);
  results.push({ seconds: Number(seconds), wallSeconds, wasmMB: Number(wasmMB) });
  console.log(`${model} on ${scanArg}: run ${run + 1}: inference ${seconds} s, click→overlay ${wallSeconds.toFixed(1)} s, ` +
    `segment worker wasm memory ${wasmMB} MB`);
  await page.close();
}
if (results.length === runs && runs > 1) {
  console.log(`${model}: median of ${runs}: inference ${median(results.map((r) => r.seconds)).toFixed(1)} s, ` +
    `click→overlay ${median(results.map((r) => r.wallSeconds)).toFixed(1)} s, ` +
    `peak wasm memory ${Math.max(...results.map((r) => r.wasmMB))} MB`);
}
await browser.close();
await server.close();
