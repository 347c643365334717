// Which build of medseg's wasm module a network worker (workers/segment.js, workers/medsam.js)
// runs. The threaded build (pkg-threads: atomics and one shared memory, rayon's pool on Web
// Workers) needs SharedArrayBuffer, so a cross-origin isolated page; everywhere else (an iframe or a
// teaching page without isolation, a CSP that refuses the pool's workers) the single-threaded build
// (pkg) runs exactly as before. Both give the same labels.

/** The most threads the page uses unless told: each costs a worker and its share of wasm memory. */
const MOST_BY_DEFAULT = 8;
/** How long the pool may take to start before the single-threaded build runs instead. */
const POOL_START_MS = 30000;

/** Threads for networks when the user has not chosen: the cores the browser reports, at most 8. */
export function defaultThreads() {
  return Math.max(1, Math.min(navigator.hardwareConcurrency || 1, MOST_BY_DEFAULT));
}

/**
 * Loads and starts a build for `threads` threads. Resolves {pkg (its exports), memory,
 * threads (how many run networks), build (words for the status line)}.
 */
export async function loadWasm(threads = 1) {
  if (threads <= 1) return single('single-threaded build');
  if (!self.crossOriginIsolated) return single('single-threaded build (the page is not cross-origin isolated)');
  try {
    const pkg = await import('../pkg-threads/medseg.js');
    const { memory } = await pkg.default();
    await withTimeout(pkg.initThreadPool(threads), POOL_START_MS, `its ${threads} workers did not start`);
    pkg.useThreads(threads);
    return { pkg, memory, threads, build: `threaded build, ${threads} threads` };
  } catch (e) {
    return single(`single-threaded build (the threaded one could not start: ${e?.message ?? e})`);
  }
}

async function single(build) {
  const pkg = await import('../pkg/medseg.js');
  const { memory } = await pkg.default();
  return { pkg, memory, threads: 1, build };
}

function withTimeout(promise, ms, what) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(what)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
