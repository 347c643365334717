// Browser benchmark (not a test): one catalog model on one scan in the real page (www/, served by
// the harness with the isolation headers, headless Chromium). Opens the scan, picks the model, the
// backend and the threads, clicks Run and waits for the overlay. Prints, per run: the inference time the page reports
// (Segmenter.run in the worker), the wall time from the click to the overlay (adds fetching the
// model, starting the worker, choosing the backend — a GPU's self-check —, compiling wasm, decoding
// the scan in the worker and counting labels), the segment worker's wasm memory at the end
// (WebAssembly memory only grows, so that is its peak), and on the GPU its peak buffer memory.
// Each backend and thread count named runs RUNS times (a fresh page each, runs of the settings
// interleaved so load on the machine falls on each alike); the status line says which backend and
// build ran and why. With --per-page K each page runs the model K times, as a user segmenting
// several scans does: the first run is "cold" (the browser compiles the wasm functions it calls
// for the first time, and recompiles the hot ones optimized, on its own background threads), the
// later ones "warm" (every run starts a fresh segment worker, but workers of one page share the
// compiled code); medians are given for each. With --returning every page runs in a browser
// started afresh on one kept profile, as a visitor returning another day: after one first visit per
// setting (shown, not counted), its first run shows what the browser kept of the compiled code.
// Usage: node bench_segment.mjs MODEL SCAN [RUNS] [--backend auto|gpu|cpu[,…]] [--threads N[,…]] [--per-page K] [--returning]
//   RUNS defaults to 1 (median when more); --backend defaults to the page's default (auto),
//   --threads to 1, --per-page to 1.
//   e.g. node bench_segment.mjs model5_gw_ae ../../../shared/data/nifti-cases/AIL.nii.gz 3 --backend cpu,gpu
//        node bench_segment.mjs deepbet ../../../shared/data/brain/t1_crop.nii.gz 3 --backend cpu --threads 1,2
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ISOLATION, launch, launchWithProfile, serve } from './harness.mjs';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? args.splice(at, 2)[1]?.split(',') ?? [] : fallback;
};
const backends = option('--backend', ['auto']);
const threadCounts = option('--threads', ['1']);
const perPage = Number(option('--per-page', ['1'])[0]);
const returning = args.includes('--returning');
if (returning) args.splice(args.indexOf('--returning'), 1);
const [model, scanArg, runsArg = '1'] = args;
if (!model || !scanArg || !backends.length || backends.some((b) => !['auto', 'gpu', 'cpu'].includes(b))
  || !threadCounts.length || threadCounts.some((n) => !(Number(n) >= 1)) || !(perPage >= 1)) {
  console.error('usage: node bench_segment.mjs MODEL SCAN [RUNS] [--backend auto|gpu|cpu[,…]] [--threads N[,…]] [--per-page K] [--returning]');
  process.exit(2);
}
const scan = resolve(scanArg);
const runs = Number(runsArg);
const TIMEOUT = 60 * 60_000;
const server = await serve(undefined, { headers: () => ISOLATION });
const browser = returning ? null : await launch({ webgpu: true }); // SwiftShader where there is no GPU
const profile = returning ? mkdtempSync(join(tmpdir(), 'medseg-bench-profile-')) : null;

/** A fresh page: in a new context of the shared browser, or (--returning) in a browser started on the kept profile. */
async function openPage() {
  const viewport = { width: 1500, height: 800 };
  if (!returning) {
    const page = await browser.newPage({ viewport });
    return { page, close: () => page.close() };
  }
  const context = await launchWithProfile(profile, { webgpu: true });
  const page = await context.newPage();
  await page.setViewportSize(viewport);
  return { page, close: () => context.close() };
}
/** What the first run of a page is called. */
const firstRun = returning ? 'first in a restarted browser' : 'cold';
const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];
const settings = backends.flatMap((backend) => threadCounts.map((threads) => ({ backend, threads, results: [], warm: [] })));

// --returning: run -1 is each setting's first visit on the new profile, shown but not counted.
for (let run = returning ? -1 : 0; run < runs; run++) {
  for (const setting of settings) {
    const { backend, threads } = setting;
    const { page, close } = await openPage();
    page.on('pageerror', (e) => console.error('page error:', e.message));
    await page.goto(server.origin + '/');
    await page.setInputFiles('#open-scan', [scan]);
    await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 120_000 });
    await page.waitForFunction((m) => [...document.querySelectorAll('#model-picker option')].some((o) => o.value === m), model);
    await page.selectOption('#model-picker', model);
    await page.selectOption('#backend', backend);
    await page.selectOption('#threads', threads);
    for (let inPage = 0; inPage < perPage; inPage++) {
      const results = run < 0 ? [] : inPage === 0 ? setting.results : setting.warm;
      const name = run < 0 ? `first visit (not counted), ${inPage + 1}`
        : perPage > 1 ? `${run + 1}.${inPage + 1} (${inPage ? 'warm' : firstRun})` : `${run + 1}`;
      await page.evaluate(() => { delete document.body.dataset.segmented; });
      const clicked = Date.now();
      await page.click('#run-model');
      const outcome = await page.waitForFunction((m) => {
        if (document.body.dataset.segmented === m) return 'done';
        const message = document.getElementById('message');
        return !message.hidden && message.textContent ? `error: ${message.textContent}` : false;
      }, model, { timeout: TIMEOUT, polling: 200 }).then((h) => h.jsonValue());
      const wallSeconds = (Date.now() - clicked) / 1000;
      const label = `${model} on ${scanArg}, backend ${backend}, ${threads} thread(s) asked`;
      if (outcome !== 'done') {
        console.log(`${label}: run ${name} FAILED after ${wallSeconds.toFixed(1)} s — ${outcome}`);
        process.exitCode = 1;
        break;
      }
      // "<title>: done in 12.3 s · wasm memory 456 MB\nran on <backend> · <build>[ · GPU memory peak 78 MB]\nnote: …"
      // (www/segment.js, www/backend.js), from the worker's 'done' message.
      const text = await page.textContent('#model-result');
      const [, seconds, wasmMB] = text.match(/done in ([\d.]+) s · wasm memory (\d+) MB/);
      const ran = text.match(/^(?:ran on|started on) .*$/m)?.[0] ?? '(no backend line)';
      const gpuMB = Number(text.match(/GPU memory peak (\d+) MB/)?.[1] ?? 0);
      const stages = JSON.parse(await page.evaluate(() => document.body.dataset.stageSeconds ?? '[]'));
      results.push({ seconds: Number(seconds), wallSeconds, wasmMB: Number(wasmMB), gpuMB });
      console.log(`${label}: run ${name}: inference ${seconds} s ` +
        `(${stages.map(([stage, s]) => `${stage} ${s.toFixed(2)} s`).join(', ')}), click→overlay ${wallSeconds.toFixed(1)} s, ` +
        `segment worker wasm memory ${wasmMB} MB, GPU memory peak ${gpuMB} MB`);
      if (run === 0 && inPage === 0) {
        console.log(`  ${ran.replace(/ · GPU memory peak \d+ MB/, '')}`);
        for (const note of text.match(/^note: .*$/gm) ?? []) console.log(`  ${note}`);
      }
    }
    await close();
  }
}
for (const { backend, threads, results: cold, warm } of settings) {
  for (const [results, which] of [[cold, returning ? ' (first run in a page of a restarted browser, on a profile that ran the page before)' : perPage > 1 ? ' (cold: first run in a page)' : ''], [warm, ' (warm: later runs in a page)']]) {
    if (!results.length) continue;
    console.log(`${model}, backend ${backend}, ${threads} thread(s)${which}: median of ${results.length}: ` +
      `inference ${median(results.map((r) => r.seconds)).toFixed(1)} s, ` +
      `click→overlay ${median(results.map((r) => r.wallSeconds)).toFixed(1)} s, ` +
      `peak wasm memory ${Math.max(...results.map((r) => r.wasmMB))} MB, ` +
      `peak GPU memory ${Math.max(...results.map((r) => r.gpuMB))} MB`);
  }
}
await browser?.close();
if (profile) rmSync(profile, { recursive: true, force: true });
await server.close();
