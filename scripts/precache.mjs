// Writes www/sw-manifest.js: what the service worker (www/sw.js) caches for offline use — the app
// shell (sw.js itself included), the wasm and the committed models — each with its size and
// SHA-256, and a version that is the hash of them all. Any changed byte, in sw.js too, changes the
// version, so the browser installs a new service worker that fills a new cache under a new name;
// the old one is dropped only once the new one is complete.
// Run by `make web` and by the browser-test harness. Usage: node scripts/precache.mjs [WWW_DIR]
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { manifestForMode } from '../www/lib/catalog.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The app shell: every file the page, the embeddable element and their workers load (both wasm
 * builds: lib/wasm.js picks one), and the service worker, so that a change to sw.js alone is a new version (a new cache) too.
 */
export const SHELL = [
  'sw.js', 'index.html', 'style.css', 'app.js', 'segment.js', 'boxtool.js', 'mesh.js', 'picture.js', 'backend.js',
  'offline.js', 'medseg.js', 'medseg-viewer.css', 'manifest.webmanifest', 'icon.svg', 'icon-192.png', 'icon-512.png',
  'examples/index.html', 'examples/examples.css',
  'pkg/medseg.js', 'pkg/medseg_bg.wasm', 'pkg-threads/medseg.js', 'pkg-threads/medseg_bg.wasm', 'models/catalog.json',
];

/** The shared library and the workers: every module under these folders, so a new one is kept too. */
const MODULE_DIRS = ['lib', 'workers'];

/** wasm-bindgen's JS snippets of the threaded build (its pool workers' script), at any depth. */
const SNIPPETS = 'pkg-threads/snippets';

function modules(www) {
  const flat = MODULE_DIRS.flatMap((dir) => (existsSync(join(www, dir)) ? readdirSync(join(www, dir)) : [])
    .filter((name) => name.endsWith('.js'))
    .sort()
    .map((name) => `${dir}/${name}`));
  const snippets = existsSync(join(www, SNIPPETS))
    ? readdirSync(join(www, SNIPPETS), { recursive: true }).filter((name) => name.endsWith('.js')).sort()
      .map((name) => `${SNIPPETS}/${name}`)
    : [];
  return [...flat, ...snippets];
}

/** Catalog models whose files are committed to git (or, without git, present and small). */
function committedModels(www) {
  const catalog = JSON.parse(readFileSync(join(www, 'models/catalog.json'), 'utf8'));
  let tracked = null;
  try {
    tracked = new Set(execFileSync('git', ['-C', ROOT, 'ls-files', '-z', '--', 'models'], { encoding: 'utf8' }).split('\0'));
  } catch {
    // Not a git checkout: fall through to "present and at most 32 MB".
  }
  return catalog.models.filter((m) => {
    const paths = m.files.map((f) => `models/${m.name}/${f.path}`);
    if (tracked) return paths.every((p) => tracked.has(p));
    return paths.every((p) => existsSync(join(www, p))) && m.files.reduce((s, f) => s + f.bytes, 0) <= 32e6;
  });
}

/** LiteMedSAM (the Box tool's model: models/litemedsam/medsam.json and the two networks it names) when committed. */
function medsamFiles(www) {
  const manifest = join(www, 'models/litemedsam/medsam.json');
  if (!existsSync(manifest)) return [];
  const { encoder, decoder } = JSON.parse(readFileSync(manifest, 'utf8'));
  const paths = ['models/litemedsam/medsam.json', ...[encoder, decoder].map((f) => `models/litemedsam/${f.path}`)];
  try {
    const tracked = new Set(execFileSync('git', ['-C', ROOT, 'ls-files', '-z', '--', 'models/litemedsam'], { encoding: 'utf8' }).split('\0'));
    return paths.every((p) => tracked.has(p)) ? paths : [];
  } catch {
    return paths.every((p) => existsSync(join(www, p))) ? paths : [];
  }
}

/**
 * The files of a model the offline copy keeps: all of them, but for a model with folds only the
 * first fold (its fast mode; the accurate mode fetches the other folds when online).
 */
function offlineFiles(m) {
  return manifestForMode(m, 'fast').files;
}

/** How the offline copy names a model: its name, and "(fast mode)" when only the first fold is kept. */
function offlineName(m) {
  return offlineFiles(m).length < m.files.length ? `${m.name} (fast mode)` : m.name;
}

export function precacheManifest(www = join(ROOT, 'www')) {
  const paths = [...SHELL, ...modules(www)];
  const models = committedModels(www);
  for (const m of models) for (const f of offlineFiles(m)) paths.push(`models/${m.name}/${f.path}`);
  paths.push(...medsamFiles(www));
  const files = paths.map((url) => {
    const bytes = readFileSync(join(www, url)); // a missing file is an error: the build is incomplete
    return { url, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  });
  const version = createHash('sha256').update(files.map((f) => `${f.url} ${f.sha256}\n`).join('')).digest('hex').slice(0, 16);
  return { version, models: models.map(offlineName), files };
}

/** Writes www/sw-manifest.js and returns the manifest. */
export function writePrecacheManifest(www = join(ROOT, 'www')) {
  const manifest = precacheManifest(www);
  const text = `// Generated by scripts/precache.mjs (make web): what sw.js caches for offline use. Do not edit.\n`
    + `self.MEDSEG_PRECACHE = ${JSON.stringify(manifest, null, 1)};\n`;
  const out = join(www, 'sw-manifest.js');
  if (!existsSync(out) || readFileSync(out, 'utf8') !== text) writeFileSync(out, text);
  return manifest;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const m = writePrecacheManifest(process.argv[2] ? resolve(process.argv[2]) : undefined);
  const total = m.files.reduce((s, f) => s + f.bytes, 0);
  console.log(`www/sw-manifest.js: version ${m.version}, ${m.files.length} files, ${(total / 1e6).toFixed(1)} MB (models: ${m.models.join(', ') || 'none'})`);
}
