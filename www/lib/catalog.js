// The model catalog (models/catalog.json beside the page) and fetching a model's files.

const MODELS = new URL('../models/', import.meta.url);

/** The catalog's models, read once per page. */
let catalog = null;
export function loadCatalog() {
  catalog ??= fetch(new URL('catalog.json', MODELS)).then(async (r) => {
    if (!r.ok) throw new Error(`models/catalog.json: the server answered ${r.status}`);
    return (await r.json()).models;
  });
  return catalog;
}

/** Whether a catalog model's files are on this site (its first file answers a HEAD request). */
export async function isAvailable(manifest) {
  const head = await fetch(new URL(`${manifest.name}/${manifest.files[0].path}`, MODELS), { method: 'HEAD' }).catch(() => null);
  return !!head?.ok;
}

/** The bytes of one file under models/ (e.g. "litemedsam/medsam.json"). */
export async function fetchModelFile(path) {
  const response = await fetch(new URL(path, MODELS));
  if (!response.ok) throw new Error(`models/${path}: the server answered ${response.status}`);
  return response.arrayBuffer();
}

/** The files of a catalog model, fetched from models/NAME/, in the manifest's order. */
export async function modelFiles(manifest) {
  return Promise.all(manifest.files.map(({ path }) => fetchModelFile(`${manifest.name}/${path}`).catch((e) => {
    throw new Error(`${e.message} (run \`medseg models fetch ${manifest.name}\`)`);
  })));
}

/** Whether a manifest has folds or test-time mirroring to leave out (a fast and an accurate mode). */
export function hasModes(manifest) {
  const { mirror = [], folds = [] } = manifest.pipeline;
  return manifest.pipeline.kind === 'patches3d' && (mirror.length > 0 || folds.length > 1);
}

/**
 * The manifest as `mode` ('fast' | 'accurate') runs it, as medseg's `Manifest::for_mode`: fast keeps
 * the first fold alone, without mirroring, and leaves the other folds' files out (not fetched).
 */
export function manifestForMode(manifest, mode) {
  if (mode !== 'fast' || !hasModes(manifest)) return manifest;
  const folds = manifest.pipeline.folds ?? [];
  const dropped = new Set(folds.slice(1));
  return {
    ...manifest,
    files: manifest.files.filter((f) => !dropped.has(f.path)),
    pipeline: { ...manifest.pipeline, mirror: [], folds: folds.slice(0, 1) },
  };
}

/**
 * Network runs a `patches3d` manifest makes on a scan of `dims` voxels of `spacing` mm (patches ×
 * mirrorings × folds; medseg's `Segmenter::network_runs`), or null for other pipelines. The
 * patch grid is counted per axis, which does not depend on the axes' order for a cubic patch.
 */
export function networkRuns(manifest, dims, spacing) {
  const { kind, patch, overlap, mirror = [], folds = [] } = manifest.pipeline;
  if (kind !== 'patches3d') return null;
  const target = manifest.preprocess.spacing;
  const sizes = dims.slice(0, 3).map((n, a) => (target ? Math.max(1, Math.round((n * spacing[a]) / target[a])) : n));
  const tiles = sizes.map((n, a) => {
    const p = patch[a];
    if (n <= p) return 1;
    const step = Math.max(1, p * (1 - Math.min(Math.max(overlap, 0), 0.95)));
    return Math.ceil((n - p) / step) + 1;
  });
  return tiles.reduce((x, y) => x * y, 1) * 2 ** mirror.length * Math.max(1, folds.length);
}
