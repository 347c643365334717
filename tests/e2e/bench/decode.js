// Decodes the same file with medseg's wasm core and with nifti-reader-js + fflate in the same
// page and thread; window.benchmark(url, runs) resolves to median milliseconds for each.
import init, { Scan } from '/pkg/medseg.js';
import * as nifti from '/node_modules/nifti-reader-js/dist/nifti.js';

const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];

/** nifti-reader-js: gunzip (fflate), header, image, then float32 values with scaling. */
function peerDecode(buffer) {
  const raw = nifti.isCompressed(buffer) ? nifti.decompress(buffer) : buffer;
  const header = nifti.readHeader(raw);
  const image = nifti.readImage(header, raw);
  const Typed = { 2: Uint8Array, 4: Int16Array, 8: Int32Array, 16: Float32Array, 64: Float64Array, 256: Int8Array, 512: Uint16Array, 768: Uint32Array }[header.datatypeCode];
  const typed = new Typed(image);
  const out = new Float32Array(typed.length);
  const slope = header.scl_slope || 1;
  const inter = header.scl_slope ? header.scl_inter : 0;
  for (let i = 0; i < typed.length; i++) out[i] = typed[i] * slope + inter;
  return out;
}

window.benchmark = async (url, runs = 7) => {
  const wasm = await init();
  const buffer = await (await fetch(url)).arrayBuffer();
  const medseg = [];
  const peer = [];
  for (let i = 0; i < runs; i++) {
    let t = performance.now();
    const scan = Scan.fromBytes(new Uint8Array(buffer));
    const values = scan.volumeF32(0);
    medseg.push(performance.now() - t);
    scan.free();
    t = performance.now();
    const peerValues = peerDecode(buffer);
    peer.push(performance.now() - t);
    if (peerValues.length !== values.length) throw new Error('the two decoders disagree on the voxel count');
  }
  return { medsegMs: median(medseg), peerMs: median(peer), wasmMemoryMB: wasm.memory.buffer.byteLength / 2 ** 20 };
};
document.getElementById('out').textContent = 'ready';
