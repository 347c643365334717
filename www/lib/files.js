// Scan files: reading what the user gives (URLs, Files, bytes) into {name, bytes}, and the one rule
// that picks the scan among dropped files. Only the scan worker applies the rule; everything else
// (models, MedSAM) gets the decoded volume from it, so a model always runs on the image shown.

const lower = (f) => f.name.toLowerCase();
const HDR = /\.hdr(\.gz)?$/;
const IMG = /\.img(\.gz)?$/;
const NII = /\.nii(\.gz)?$/;

/**
 * The scan among dropped files: {hdr, img} for the first .hdr and the .img with the same stem, else
 * {nii} for the first .nii/.nii.gz (or the only kind of file given). A lone half of a pair is an error.
 */
export function pickScanFiles(files) {
  const hdr = files.find((f) => HDR.test(lower(f)));
  if (hdr) {
    const stem = lower(hdr).replace(HDR, '');
    const img = files.find((f) => IMG.test(lower(f)) && lower(f).replace(IMG, '') === stem);
    if (!img) throw new Error(`${hdr.name} is the header of a .hdr/.img pair: drop it together with its .img file`);
    return { hdr, img };
  }
  const img = files.find((f) => IMG.test(lower(f)));
  const nii = files.find((f) => NII.test(lower(f))) || (img ? null : files[0]);
  if (!nii) throw new Error(`${img.name} is the image of a .hdr/.img pair: drop it together with its .hdr file`);
  return { nii };
}

/**
 * Reads a URL (string or URL, relative to `base`), a File/Blob, {name, bytes}, bytes (ArrayBuffer or
 * typed array) or an array of these into [{name, bytes: ArrayBuffer}], ready to transfer.
 */
export async function readInput(input, base = document.baseURI) {
  if (Array.isArray(input) || input instanceof FileList) {
    return (await Promise.all([...input].map((x) => readInput(x, base)))).flat();
  }
  if (typeof input === 'string' || input instanceof URL) {
    const url = new URL(input, base);
    const response = await fetch(url);
    if (!response.ok) throw new Error(`the server answered ${response.status} ${response.statusText}`);
    return [{ name: decodeURIComponent(url.pathname.split('/').pop()) || 'scan.nii.gz', bytes: await response.arrayBuffer() }];
  }
  if (input instanceof Blob) return [{ name: input.name || 'scan.nii.gz', bytes: await input.arrayBuffer() }];
  if (input?.bytes instanceof ArrayBuffer) return [input];
  if (input instanceof ArrayBuffer) return [{ name: gzipped(input) ? 'scan.nii.gz' : 'scan.nii', bytes: input.slice(0) }];
  if (ArrayBuffer.isView(input)) {
    const bytes = input.buffer.slice(input.byteOffset, input.byteOffset + input.byteLength);
    return [{ name: gzipped(bytes) ? 'scan.nii.gz' : 'scan.nii', bytes }];
  }
  throw new Error('expected a URL, a File or the file\'s bytes');
}

function gzipped(buffer) {
  const b = new Uint8Array(buffer, 0, Math.min(2, buffer.byteLength));
  return b[0] === 0x1f && b[1] === 0x8b;
}
