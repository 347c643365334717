// Scan files: reading what the user gives (URLs, Files, bytes) into {name, bytes}, and the one rule
// that picks the scan among dropped files. Only the scan worker applies the rule; everything else
// (models, MedSAM) gets the decoded volume from it, so a model always runs on the image shown.

const lower = (f) => f.name.toLowerCase();
const HDR = /\.hdr(\.gz)?$/;
const IMG = /\.img(\.gz)?$/;
const SINGLE = /\.(nii(\.gz)?|mgz|mgh|nrrd)$/;
const NHDR = /\.nhdr$/;

/** The data file an NRRD detached header (.nhdr) names in its "data file:" line, or null. */
export function nhdrDataFile(bytes) {
  const text = new TextDecoder().decode(new Uint8Array(bytes, 0, Math.min(bytes.byteLength, 1 << 16)));
  const line = text.split(/\r?\n/).find((l) => /^data ?file:/i.test(l));
  return line ? line.replace(/^data ?file:\s*/i, '').trim().split(/[\\/]/).pop() : null;
}

/**
 * The scan among dropped files: {hdr, img} for the first .hdr and the .img with the same stem;
 * {nhdr, data} for an NRRD .nhdr and the data file it names; else {single} for the first .nii,
 * .nii.gz, .mgz, .mgh or .nrrd (or the only kind of file given). A lone half of a pair is an error.
 */
export function pickScanFiles(files) {
  const hdr = files.find((f) => HDR.test(lower(f)));
  if (hdr) {
    const stem = lower(hdr).replace(HDR, '');
    const img = files.find((f) => IMG.test(lower(f)) && lower(f).replace(IMG, '') === stem);
    if (!img) throw new Error(`${hdr.name} is the header of a .hdr/.img pair: drop it together with its .img file`);
    return { hdr, img };
  }
  const nhdr = files.find((f) => NHDR.test(lower(f)));
  if (nhdr) {
    const wanted = nhdrDataFile(nhdr.bytes);
    if (!wanted) throw new Error(`${nhdr.name} names no data file (its "data file:" line is missing)`);
    const data = files.find((f) => f.name === wanted) ?? files.find((f) => lower(f) === wanted.toLowerCase());
    if (!data) throw new Error(`${nhdr.name} is an NRRD header whose data is in ${wanted}: drop both files together`);
    return { nhdr, data };
  }
  const img = files.find((f) => IMG.test(lower(f)));
  const single = files.find((f) => SINGLE.test(lower(f))) || (img ? null : files[0]);
  if (!single) throw new Error(`${img.name} is the image of a .hdr/.img pair: drop it together with its .hdr file`);
  return { single };
}

/**
 * True when `files` are a DICOM folder rather than one scan: several files, none of them a NIfTI,
 * MGH, NRRD or Analyze file (a folder of .dcm files, or of files without an extension, as scanners
 * write them).
 */
export function isDicomSet(files) {
  if (files.length < 2) return false;
  return !files.some((f) => SINGLE.test(lower(f)) || HDR.test(lower(f)) || NHDR.test(lower(f)) || IMG.test(lower(f)));
}

/**
 * The files of a drop: with folders among them, every file inside (recursively, as Files whose
 * `name` is their path in the folder); else the dropped files.
 */
export async function droppedFiles(dataTransfer) {
  const entries = [...(dataTransfer?.items ?? [])].map((item) => item.webkitGetAsEntry?.()).filter(Boolean);
  if (!entries.some((e) => e.isDirectory)) return [...(dataTransfer?.files ?? [])];
  const files = [];
  const walk = async (entry, path) => {
    if (entry.isFile) {
      const file = await new Promise((ok, fail) => entry.file(ok, fail));
      files.push(new File([file], path + file.name, { type: file.type }));
      return;
    }
    const reader = entry.createReader();
    for (;;) {
      const batch = await new Promise((ok, fail) => reader.readEntries(ok, fail));
      if (!batch.length) break;
      for (const child of batch) await walk(child, `${path}${entry.name}/`);
    }
  };
  for (const entry of entries) await walk(entry, '');
  return files;
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
