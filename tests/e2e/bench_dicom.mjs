// Measures (not a test) reading a real DICOM series: the 20-slice JPEG 2000 CT (512×512×20) in
// ../shared/data/ct/example_ct_dicom/, opened
//   1. by the page (medseg's scan worker, wasm): input → first slice drawn, its decode, wasm memory;
//   2. in the same Chromium by @itk-wasm/dicom's readImageDicomFileSeries (its pipelines served from
//      node_modules here, never a CDN): call → result, in a fresh page (cold: fetch + compile of the
//      pipeline) and again in that page (warm: the same worker pool);
//   3. natively: `medseg convert` (the debug build: dependencies at opt-level 3, medseg itself at
//      opt-level 0) against Debian's dcm2niix, NIfTI outputs checked for the same grid and affine.
//   cd tests/e2e && node bench_dicom.mjs [RUNS]
import { existsSync, readdirSync, readFileSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, resolve, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { serve, launch, newContext, SHARED, MEDSEG_BIN } from './harness.mjs';

const RUNS = Number(process.argv[2] ?? 5);
const DIR = join(SHARED, 'data/ct/example_ct_dicom');
const FILES = readdirSync(DIR).sort().map((f) => join(DIR, f));
// The peer is a benchmark's dependency, not the tests': installed here on demand, at a pinned version.
const ITK_PACKAGE = '@itk-wasm/dicom@7.6.4';
const ITK_DIST = resolve(dirname(fileURLToPath(import.meta.url)), 'node_modules/@itk-wasm/dicom/dist');
if (!existsSync(ITK_DIST)) {
  console.log(`installing ${ITK_PACKAGE} (npm, not saved in package.json)`);
  const npm = spawnSync('npm', ['install', '--no-save', '--ignore-scripts', ITK_PACKAGE], { cwd: dirname(fileURLToPath(import.meta.url)), stdio: 'inherit' });
  if (npm.status !== 0) throw new Error(`npm install ${ITK_PACKAGE} failed`);
}
const ITK_VERSION = JSON.parse(readFileSync(join(ITK_DIST, '../package.json'), 'utf8')).version;
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const ms = (xs) => `${median(xs).toFixed(0)} ms (runs: ${xs.map((x) => x.toFixed(0)).join(', ')})`;
const fmt = (m) => m.map((row) => row.map((v) => v.toFixed(4).padStart(10)).join(' ')).join('\n      ');
const rows = [];
console.log(`${FILES.length} files from ${DIR}, ${RUNS} runs each`);

// ---- 1. The page
const browser = await launch();
const app = await serve();
const page1 = { decode: [], first: [], wall: [], wasm: [] };
let medsegInfo = null;
for (let i = 0; i < RUNS; i++) {
  const context = await newContext(browser, { viewport: { width: 1400, height: 900 } });
  // The scan worker's reply carries the scan's info (dims, affine): kept for the comparison below.
  await context.addInitScript(() => {
    const Native = window.Worker;
    window.Worker = class extends Native {
      constructor(...args) {
        super(...args);
        this.addEventListener('message', (e) => {
          const info = e.data?.reply?.info ?? e.data?.info;
          if (info?.affine_mm) window.__medsegInfo = info;
        });
      }
    };
  });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(app.origin + '/');
  const t0 = performance.now();
  await page.setInputFiles('#open-scan', FILES);
  await page.waitForFunction(() => document.body.dataset.firstSliceAt || !document.getElementById('message').hidden);
  const wall = performance.now() - t0;
  const got = await page.evaluate(() => ({
    ...document.body.dataset, message: document.getElementById('message').hidden ? null : document.getElementById('message').textContent, info: window.__medsegInfo ?? null,
  }));
  if (got.message) throw new Error(`the page could not open the series: ${got.message}`);
  page1.decode.push(Number(got.decodeMs));
  page1.first.push(Number(got.firstSliceMs));
  page1.wall.push(wall);
  page1.wasm.push(Number(got.wasmBytes));
  medsegInfo = got.info;
  await context.close();
}
await app.close();
console.log(`\n== 1. medseg page: dims ${medsegInfo?.dims?.join('×')}, ${medsegInfo?.datatype}, spacing ${medsegInfo?.spacing_mm?.map((s) => s.toFixed(4)).join(' × ')} mm`);
console.log(`  decodeMs ${ms(page1.decode)}\n  firstSliceMs ${ms(page1.first)}\n  setInputFiles → first slice (Node side) ${ms(page1.wall)}`);
console.log(`  scan worker wasm memory ${(median(page1.wasm) / 2 ** 20).toFixed(0)} MiB`);
rows.push(['medseg page: decode (scan worker)', median(page1.decode)], ['medseg page: input → first slice', median(page1.first)]);

// ---- 2. @itk-wasm/dicom in the same Chromium, pipelines served here
const site = mkdtempSync(join(tmpdir(), 'bench-dicom-'));
writeFileSync(join(site, 'index.html'), `<!doctype html><meta charset="utf-8"><title>itk-wasm dicom</title>
<script type="module">
  import * as dicom from '/itk/bundle/index-worker-embedded.js';
  dicom.setPipelinesBaseUrl(new URL('/itk/pipelines', location.href).href);
  window.dicom = dicom;
  window.dicomReady = true;
</script>`);
// The embedded worker runs from a data: URL (an opaque origin): its pipeline fetches are cross-origin.
const itk = await serve([['/itk/', ITK_DIST], ['/dicom/', DIR], ['/', site]], { headers: () => ({ 'access-control-allow-origin': '*' }) });
const names = FILES.map((f) => f.split('/').pop());
const page2 = { cold: [], warm: [] };
let itkImage = null;
const offOrigin = new Set();
for (let i = 0; i < RUNS; i++) {
  const context = await newContext(browser);
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  context.on('request', (r) => { if (!r.url().startsWith(itk.origin) && !/^(blob|data):/.test(r.url())) offOrigin.add(r.url()); });
  await page.goto(itk.origin + '/');
  await page.waitForFunction(() => window.dicomReady);
  const r = await page.evaluate(async (names) => {
   try {
    const bytes = await Promise.all(names.map(async (n) => new Uint8Array(await (await fetch(`/dicom/${n}`)).arrayBuffer())));
    // The reader may transfer (detach) its inputs: each call gets its own copies, made before timing.
    const inputs = () => bytes.map((b, i) => ({ path: names[i], data: b.slice() }));
    let input = inputs();
    let t = performance.now();
    const first = await window.dicom.readImageDicomFileSeries({ inputImages: input });
    const cold = performance.now() - t;
    input = inputs();
    t = performance.now();
    const again = await window.dicom.readImageDicomFileSeries({ inputImages: input, webWorkerPool: first.webWorkerPool });
    const warm = performance.now() - t;
    const img = again.outputImage;
    let min = Infinity, max = -Infinity, sum = 0;
    for (const v of img.data) { if (v < min) min = v; if (v > max) max = v; sum += v; }
    first.webWorkerPool.terminateWorkers?.();
    return {
      cold, warm, size: [...img.size], origin: [...img.origin], spacing: [...img.spacing], direction: [...img.direction],
      type: `${img.imageType.componentType} ${img.imageType.pixelType}`, min, max, mean: sum / img.data.length,
    };
   } catch (e) { return { error: String(e?.message ?? e).slice(0, 500) }; } // (the page's stack holds the whole worker source)
  }, names);
  if (r.error) throw new Error(`@itk-wasm/dicom failed in Chromium: ${r.error}; requests off the local server: ${[...offOrigin].join(', ') || 'none'}`);
  page2.cold.push(r.cold);
  page2.warm.push(r.warm);
  itkImage = r;
  await context.close();
}
await itk.close();
rmSync(site, { recursive: true });
await browser.close();
const okSize = itkImage.size.join('×') === '512×512×20';
console.log(`\n== 2. @itk-wasm/dicom ${ITK_VERSION} readImageDicomFileSeries (pipelines from node_modules, served locally)`);
console.log(`  size ${itkImage.size.join('×')} ${okSize ? '(512×512×20: ok)' : '(EXPECTED 512×512×20)'}, ${itkImage.type}, values ${itkImage.min}…${itkImage.max}, mean ${itkImage.mean.toFixed(3)}`);
console.log(`  origin (LPS) ${itkImage.origin.map((v) => v.toFixed(4)).join(', ')}; spacing ${itkImage.spacing.map((v) => v.toFixed(4)).join(', ')}; direction (row-major) ${itkImage.direction.map((v) => v.toFixed(4)).join(', ')}`);
console.log(`  cold (fresh page: pipeline fetch + compile + read) ${ms(page2.cold)}\n  warm (second call, same worker pool) ${ms(page2.warm)}`);
console.log(`  requests off the local server: ${offOrigin.size ? [...offOrigin].join(', ') : 'none'}`);
// ITK's LPS image geometry as a NIfTI (RAS) affine: rows x and y negated.
const D = (r, c) => itkImage.direction[c + r * 3];
const itkAffine = [0, 1, 2].map((r) => [...[0, 1, 2].map((c) => (r < 2 ? -1 : 1) * D(r, c) * itkImage.spacing[c]), (r < 2 ? -1 : 1) * itkImage.origin[r]]);
const medsegAffine = medsegInfo?.affine_mm;
if (medsegAffine) {
  const m = medsegAffine.length === 16 ? [0, 1, 2].map((r) => medsegAffine.slice(r * 4, r * 4 + 4)) : medsegAffine.slice(0, 3);
  const diff = Math.max(...m.flatMap((row, r) => row.map((v, c) => Math.abs(v - itkAffine[r][c]))));
  console.log(`  affine (RAS mm), medseg page:\n      ${fmt(m)}\n    itk-wasm (LPS → RAS):\n      ${fmt(itkAffine)}\n    max difference as written ${diff.toExponential(2)} mm`);
  // The same grid may be stored with an axis reversed (medseg and dcm2niix store the rows bottom-up,
  // ITK top-down): flip such axes of medseg's affine onto ITK's voxel order, then compare.
  const dims = medsegInfo.dims;
  const flipped = m.map((row) => [...row]);
  const flips = [];
  for (let c = 0; c < 3; c++) {
    const dot = [0, 1, 2].reduce((s, r) => s + m[r][c] * itkAffine[r][c], 0);
    if (dot >= 0) continue;
    flips.push('ijk'[c]);
    for (let r = 0; r < 3; r++) { flipped[r][3] += (dims[c] - 1) * m[r][c]; flipped[r][c] = -m[r][c]; }
  }
  const same = Math.max(...flipped.flatMap((row, r) => row.map((v, c) => Math.abs(v - itkAffine[r][c]))));
  console.log(`    with medseg's axis ${flips.join(', ') || '(none)'} reversed onto ITK's voxel order: max difference ${same.toExponential(2)} mm (same grid: ${same < 1e-3})`);
} else console.log(`  (the page's affine was not captured) itk-wasm as RAS:\n      ${fmt(itkAffine)}`);
rows.push(['itk-wasm: readImageDicomFileSeries cold', median(page2.cold)], ['itk-wasm: readImageDicomFileSeries warm', median(page2.warm)]);

// ---- 3. Native
const tmp = mkdtempSync(join(tmpdir(), 'bench-dicom-native-'));
const timed = (cmd, args) => {
  const t = performance.now();
  const p = spawnSync(cmd, args, { encoding: 'utf8' });
  const dt = performance.now() - t;
  if (p.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${p.status}): ${p.stderr}`);
  return dt;
};
const native = { medseg: [], dcm2niix: [] };
const medsegOut = join(tmp, 'x.nii.gz');
const dcmDir = join(tmp, 'dcm2niix');
for (let i = 0; i < RUNS; i++) {
  native.medseg.push(timed(MEDSEG_BIN, ['convert', DIR, '-o', medsegOut]));
  rmSync(dcmDir, { recursive: true, force: true });
  spawnSync('mkdir', ['-p', dcmDir]);
  native.dcm2niix.push(timed('dcm2niix', ['-z', 'y', '-f', 'out', '-o', dcmDir, DIR]));
}
const dcmVersion = spawnSync('dcm2niix', ['-v'], { encoding: 'utf8' }).stdout.split('\n').find((l) => /v\d/.test(l))?.trim();
console.log(`\n== 3. native: ${MEDSEG_BIN} convert (debug build: dependencies at opt-level 3) vs dcm2niix (${dcmVersion ?? 'version unknown'})`);
console.log(`  medseg convert ${ms(native.medseg)}\n  dcm2niix -z y ${ms(native.dcm2niix)}`);
const py = spawnSync('python3', ['-c', `
import sys, glob, nibabel as nib, numpy as np
np.set_printoptions(precision=4, suppress=True)
a = nib.load(sys.argv[1]); outs = sorted(glob.glob(sys.argv[2] + '/out*.nii.gz')); b = nib.load(outs[0])
print('  dcm2niix files:', ', '.join(o.split('/')[-1] for o in outs))
for name, im in (('medseg', a), ('dcm2niix', b)):
    d = np.asarray(im.dataobj)
    print(f'  {name}: dims {im.shape}, {im.get_data_dtype()}, values {d.min()}…{d.max()}, mean {d.mean():.3f}, axcodes {"".join(nib.aff2axcodes(im.affine))}')
    print('    affine', str(im.affine[:3]).replace(chr(10), chr(10) + '           '))
same = a.shape == b.shape and np.allclose(a.affine, b.affine, atol=1e-3)
print('  same dims and affine as written:', same, '; max affine difference', float(np.abs(a.affine - b.affine).max()))
ca, cb = nib.as_closest_canonical(a), nib.as_closest_canonical(b)
va, vb = np.asarray(ca.dataobj), np.asarray(cb.dataobj)
print('  after reorienting both to RAS: same dims', ca.shape == cb.shape, '; max affine difference', float(np.abs(ca.affine - cb.affine).max()),
      '; same voxels', ca.shape == cb.shape and bool(np.array_equal(va, vb)))
`, medsegOut, dcmDir], { encoding: 'utf8' });
process.stdout.write(py.stdout + py.stderr);
rmSync(tmp, { recursive: true });
rows.push(['native medseg convert (debug, deps opt 3)', median(native.medseg)], ['native dcm2niix -z y', median(native.dcm2niix)]);

console.log(`\n== medians of ${RUNS} runs`);
for (const [what, v] of rows) console.log(`  ${what.padEnd(44)} ${v.toFixed(0).padStart(7)} ms`);
console.log(`  ${'medseg page scan worker wasm memory'.padEnd(44)} ${(median(page1.wasm) / 2 ** 20).toFixed(0).padStart(7)} MiB`);
