// Decode benchmark of the wasm core under node (median of 9 runs per file).
// Usage: node scripts/bench_wasm_decode.mjs PKG_DIR FILE...   (PKG_DIR: wasm-bindgen --target nodejs output)
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, resolve } from 'node:path';

const [pkgDir, ...files] = process.argv.slice(2);
const { Scan } = createRequire(import.meta.url)(resolve(pkgDir, 'medseg.js'));
const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];

for (const file of files) {
  const bytes = readFileSync(file);
  const decode = [];
  const toF32 = [];
  for (let run = 0; run < 9; run++) {
    const t0 = performance.now();
    const scan = Scan.fromBytes(bytes);
    const t1 = performance.now();
    scan.volumeF32(0);
    toF32.push(performance.now() - t1);
    decode.push(t1 - t0);
    scan.free();
  }
  console.log(`${basename(file).padEnd(40)} wasm (node) decode ${median(decode).toFixed(1)} ms, f32 ${median(toF32).toFixed(1)} ms`);
}
