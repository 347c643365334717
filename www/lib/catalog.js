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
