// The service worker: keeps one complete, verified copy of the app (shell, wasm, committed models)
// so the page opens, reads dropped scans and runs those models with the network off.
//
// Versions never mix: sw-manifest.js (made by scripts/precache.mjs) lists every file with its
// SHA-256, and its version names the cache. Installing fills a fresh cache and checks every hash;
// any failure abandons that cache and the old version stays in charge. The new version takes over
// only when a page asks (the "Update" button, or a page with nothing open), and then every page
// reloads, so no page runs code from two versions.
importScripts('sw-manifest.js');

const { version, files } = self.MEDSEG_PRECACHE;
const CACHE = `medseg-${version}`;
const scope = new URL(self.registration.scope);
/** Path inside the scope ('index.html', 'pkg/medseg_bg.wasm', …) → manifest entry. */
const byPath = new Map(files.map((f) => [f.url, f]));

async function sha256(buffer) {
  const digest = await crypto.subtle.digest('SHA-256', buffer);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

async function fill() {
  await caches.delete(CACHE); // leftovers of an interrupted attempt
  const cache = await caches.open(CACHE);
  try {
    for (const f of files) {
      const response = await fetch(new Request(new URL(f.url, scope), { cache: 'reload' }));
      if (!response.ok) throw new Error(`${f.url}: the server answered ${response.status}`);
      const body = await response.arrayBuffer();
      const hash = await sha256(body);
      if (hash !== f.sha256) throw new Error(`${f.url} changed on the server during the update (SHA-256 ${hash}, expected ${f.sha256})`);
      const headers = new Headers(response.headers);
      headers.set('content-length', String(body.byteLength));
      headers.delete('content-encoding');
      await cache.put(new URL(f.url, scope).href, new Response(body, { status: 200, headers }));
    }
    // The completion mark: a cache without it is never used.
    await cache.put(new URL('__complete__', scope).href, new Response(String(files.reduce((s, f) => s + f.bytes, 0))));
  } catch (e) {
    await caches.delete(CACHE);
    throw e;
  }
}

self.addEventListener('install', (event) => {
  event.waitUntil(fill());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) if (key.startsWith('medseg-') && key !== CACHE) await caches.delete(key);
    await self.clients.claim();
  })());
});

self.addEventListener('message', (event) => {
  const { type } = event.data ?? {};
  if (type === 'skip-waiting') self.skipWaiting();
  if (type === 'status') {
    event.waitUntil((async () => {
      const cache = await caches.open(CACHE);
      const complete = !!(await cache.match(new URL('__complete__', scope).href));
      const bytes = files.reduce((s, f) => s + f.bytes, 0);
      event.ports[0]?.postMessage({ version, complete, bytes, count: files.length, models: self.MEDSEG_PRECACHE.models });
    })());
  }
});

/** The manifest path a request maps to, or null (not part of the offline copy). */
function precached(request) {
  const url = new URL(request.url);
  if (url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) return null;
  let path = url.pathname.slice(scope.pathname.length);
  if (path === '' || path.endsWith('/')) path += 'index.html';
  // The page's own address may carry ?scan=…&embed=1; the files themselves are versioned by the cache.
  return byPath.has(path) ? path : null;
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET' && request.method !== 'HEAD') return;
  const path = precached(request);
  if (!path) return; // everything else (scans, fetched models, the sample) goes to the network as usual
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const hit = await cache.match(new URL(path, scope).href);
    if (!hit) return fetch(request);
    if (request.method === 'HEAD') return new Response(null, { status: 200, headers: hit.headers });
    return hit;
  })());
});
