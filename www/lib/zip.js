// Reading the files of a .zip (a study exported from a PACS or a viewer) in the browser: the
// central directory names the entries, stored ones are sliced out, deflated ones inflated with
// the browser's DecompressionStream. No ZIP64, no encryption: such archives get a plain message.

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/** True when `bytes` (ArrayBuffer) starts like a zip archive. */
export function isZip(bytes) {
  const v = new DataView(bytes, 0, Math.min(4, bytes.byteLength));
  return bytes.byteLength >= 4 && v.getUint32(0, true) === LOCAL;
}

/**
 * The files in a zip archive as [{name, bytes: ArrayBuffer}] (folders and empty entries left
 * out; `name` is the entry's path). `limit` bounds the bytes it may inflate in all.
 */
export async function unzip(bytes, { limit = 4 * 2 ** 30 } = {}) {
  const view = new DataView(bytes);
  const end = findEnd(view);
  const count = view.getUint16(end + 10, true);
  let at = view.getUint32(end + 16, true);
  if (at === 0xffffffff || count === 0xffff) throw new Error('this is a ZIP64 archive (over 4 GB or 65535 files), which is not read: unpack it and drop the folder');
  const files = [];
  let total = 0;
  for (let i = 0; i < count; i++) {
    if (at + 46 > bytes.byteLength || view.getUint32(at, true) !== CENTRAL) throw new Error(`the zip's directory is damaged at entry ${i + 1} of ${count}`);
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    const compressed = view.getUint32(at + 20, true);
    const size = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    const local = view.getUint32(at + 42, true);
    const name = new TextDecoder().decode(new Uint8Array(bytes, at + 46, nameLength));
    at += 46 + nameLength + extraLength + commentLength;
    if (name.endsWith('/') || size === 0) continue;
    if (flags & 1) throw new Error(`${name} in the zip is encrypted: unpack the archive with its password first`);
    if (local + 30 > bytes.byteLength || view.getUint32(local, true) !== LOCAL) throw new Error(`the zip entry ${name} is damaged`);
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    if (start + compressed > bytes.byteLength) throw new Error(`the zip entry ${name} is cut short: the archive is truncated`);
    total += size;
    if (total > limit) throw new Error(`the zip holds more than ${(limit / 2 ** 30).toFixed(0)} GB of files once unpacked, more than this page can hold`);
    const data = bytes.slice(start, start + compressed);
    if (method === 0) files.push({ name, bytes: data });
    else if (method === 8) files.push({ name, bytes: await inflate(data, size, name) });
    else throw new Error(`${name} in the zip is compressed with method ${method}; only stored and deflated entries are read`);
  }
  return files;
}

function findEnd(view) {
  // The end-of-central-directory record: 22 bytes plus a comment of up to 65535 bytes, at the end.
  for (let at = view.byteLength - 22; at >= Math.max(0, view.byteLength - 22 - 65535); at--) {
    if (view.getUint32(at, true) === EOCD) return at;
  }
  throw new Error('not a zip archive, or a truncated one: its central directory is missing');
}

async function inflate(data, size, name) {
  const stream = new Blob([data]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
  const out = await new Response(stream).arrayBuffer().catch((e) => {
    throw new Error(`${name} in the zip cannot be inflated: ${e.message}`);
  });
  if (out.byteLength !== size) throw new Error(`${name} in the zip inflates to ${out.byteLength} bytes, its directory says ${size}`);
  return out;
}
