// The service worker: keeps one complete, verified copy of the app (shell, wasm, committed models)
// so the page opens, reads dropped scans and runs those models with the network off.
//
// Versions never mix: sw-manifest.js (made by scripts/precache.mjs) lists every file, this one
// included, with its SHA-256, and its version names the cache. Installing fills a cache of that new
// name and checks every hash; the live cache is never touched, and any failure abandons the new one
// so the old version stays in charge. Old caches go only when the new version activates, after its
// cache is complete. The new version takes over at once only when every open tab of the app says
// it is idle (nothing unsaved, nothing running); otherwise when the user clicks "Update". Then
// every tab reloads, so no page runs code from two versions.
//
// Every response it serves carries the two headers that make the page cross-origin isolated (as
// `make serve` sends them), so the threaded wasm build runs on hosts where the author cannot set
// headers (GitHub-Pages-like static hosting): from the first load the service worker controls.
importScripts('sw-manifest.js');

const { version, files } = self.MEDSEG_PRECACHE;
const CACHE = `medseg-${version}`;
const scope = new URL(self.registration.scope);
/** Path inside the scope ('index.html', 'pkg/medseg_bg.wasm', …) → manifest entry. */
const byPath = new Map(files.map((f) => [f.url, f]));
const totalBytes = files.reduce((s, f) => s + f.bytes, 0);
/** Written last by `fill`: a cache without it is never used. */
const COMPLETE = new URL('__complete__', scope).href;
/** Only an isolated page may share memory between workers (lib/wasm.js); every file is same-origin. */
const ISOLATION = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
/** How long a tab has to say whether it is idle; one that does not answer counts as busy. */
const IDLE_ANSWER_MS = 5000;

async function sha256(buffer) {
  const digest = await crypto.subtle.digest('SHA-256', buffer);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Whether cache `name` exists and holds a complete copy. */
async function complete(name) {
  return (await caches.has(name)) && !!(await (await caches.open(name)).match(COMPLETE));
}

/** Fills this version's cache, unless it is complete already (then it may be live: left alone). */
async function fill() {
  if (await complete(CACHE)) return;
  await caches.delete(CACHE); // leftovers of an interrupted attempt, never a live copy (those are complete)
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
      for (const [name, value] of Object.entries(ISOLATION)) headers.set(name, value);
      await cache.put(new URL(f.url, scope).href, new Response(body, { status: 200, headers }));
    }
    await cache.put(COMPLETE, new Response(String(totalBytes)));
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

/**
 * Whether every open tab of the app (the page at the scope: index.html, embedded or not) is idle:
 * each is asked ('idle?', answered by offline.js) and one that does not answer in time counts as
 * busy. Other pages under the scope (examples/) do not reload on an update, so they are not asked.
 */
async function everyTabIdle() {
  const tabs = (await self.clients.matchAll({ type: 'window', includeUncontrolled: true }))
    .filter((tab) => precached(tab.url) === 'index.html');
  const answers = await Promise.all(tabs.map((tab) => new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = ({ data }) => resolve(data?.idle === true);
    setTimeout(() => resolve(false), IDLE_ANSWER_MS);
    tab.postMessage({ type: 'idle?' }, [channel.port2]);
  })));
  return answers.every(Boolean);
}

// Messages from the pages, answered on the port they send (if any):
//   take-over-if-idle (to a waiting worker): takes over when every tab is idle; {tookOver}
//   skip-waiting (the user clicked Update): takes over now
//   status: {version, complete, bytes, count, models} of this worker's copy
self.addEventListener('message', (event) => {
  const { type } = event.data ?? {};
  const reply = (data) => event.ports[0]?.postMessage(data);
  if (type === 'skip-waiting') self.skipWaiting();
  if (type === 'take-over-if-idle') {
    event.waitUntil((async () => {
      const tookOver = await everyTabIdle();
      if (tookOver) await self.skipWaiting();
      reply({ tookOver });
    })());
  }
  if (type === 'status') {
    event.waitUntil((async () => {
      reply({ version, complete: await complete(CACHE), bytes: totalBytes, count: files.length, models: self.MEDSEG_PRECACHE.models });
    })());
  }
});

/** The manifest path an address maps to, or null (not part of the offline copy). */
function precached(address) {
  const url = new URL(address);
  if (url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) return null;
  let path = url.pathname.slice(scope.pathname.length);
  if (path === '' || path.endsWith('/')) path += 'index.html';
  // The page's own address may carry ?scan=…&embed=1; the files themselves are versioned by the cache.
  return byPath.has(path) ? path : null;
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET' && request.method !== 'HEAD') return;
  const path = precached(request.url);
  if (!path) return; // everything else (scans, fetched models, the sample) goes to the network as usual
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const hit = await cache.match(new URL(path, scope).href);
    if (!hit) return fetch(request);
    if (request.method === 'HEAD') return new Response(null, { status: 200, headers: hit.headers });
    return hit;
  })());
});
