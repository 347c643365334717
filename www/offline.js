// The offline copy: registers the service worker (sw.js) and shows whether the app is available
// offline and how much it keeps. A new version takes over at once only when every open tab of the
// app is idle (each tab answers the worker's 'idle?'); otherwise the page shows "Update available"
// and the user chooses when. Then every tab reloads: one version at a time.

/** Sends `message` to service worker `worker` with a port for its reply; resolves with the reply. */
function ask(worker, message) {
  const channel = new MessageChannel();
  const reply = new Promise((resolve) => { channel.port1.onmessage = ({ data }) => resolve(data); });
  worker.postMessage(message, [channel.port2]);
  return reply;
}

/**
 * @param status element that receives the state text (body[data-offline] mirrors it for tests:
 *   unsupported | preparing | ready | update | failed)
 * @param updateButton button shown when a new version is ready
 * @param isIdle () => true when reloading loses nothing (nothing unsaved, nothing running)
 */
export async function setupOffline(status, updateButton, isIdle) {
  const show = (state, text) => {
    document.body.dataset.offline = state;
    status.textContent = text;
    status.title = text;
  };
  if (!('serviceWorker' in navigator) || !window.isSecureContext) {
    return show('unsupported', 'Not available offline (this browser or address cannot keep an offline copy)');
  }
  navigator.serviceWorker.addEventListener('message', ({ data, ports }) => {
    if (data?.type === 'idle?') ports[0]?.postMessage({ idle: isIdle() });
  });
  navigator.serviceWorker.startMessages();
  let controlled = !!navigator.serviceWorker.controller;
  navigator.serviceWorker.addEventListener('controllerchange', () => {
    // A new version took over a page running an older one's files: reload, so that no page mixes versions.
    if (controlled) return location.reload();
    controlled = true; // the first version claimed this page, whose files came from the network
    refresh();
  });
  let registration;
  try {
    registration = await navigator.serviceWorker.register(new URL('sw.js', import.meta.url), { updateViaCache: 'none' });
  } catch (e) {
    return show('failed', `Not available offline: ${e.message}`);
  }

  async function refresh() {
    const worker = registration.active;
    if (!worker) return;
    const { complete, bytes, version, models } = await ask(worker, { type: 'status' });
    if (complete) {
      // The live copy's version, kept even when an update is already on offer (the two replies race).
      document.body.dataset.offlineBytes = bytes;
      document.body.dataset.offlineVersion = version;
    }
    if (document.body.dataset.offline === 'update') return;
    if (!complete) return show('preparing', 'Preparing the offline copy…');
    const kept = models?.length ? ` · models: ${models.join(', ')}` : '';
    show('ready', `✓ Available offline · ${(bytes / 1e6).toFixed(1)} MB cached${kept}${navigator.onLine ? '' : ' · you are offline'}`);
  }

  /** A new version is installed: it takes over if every tab is idle, else the user clicks Update. */
  async function offerUpdate(worker) {
    const { tookOver } = await ask(worker, { type: 'take-over-if-idle' });
    if (tookOver) return;
    show('update', 'Update available');
    updateButton.hidden = false;
    updateButton.onclick = () => worker.postMessage({ type: 'skip-waiting' });
  }

  function watch(worker) {
    if (!controlled) show('preparing', 'Preparing the offline copy…');
    worker.addEventListener('statechange', () => {
      if (worker.state === 'installed' && registration.active && registration.active !== worker) offerUpdate(worker);
      if (worker.state === 'activated') refresh();
      if (worker.state === 'redundant' && !registration.active) show('failed', 'Not available offline: the offline copy could not be made (see the console)');
    });
  }

  if (registration.waiting && registration.active) offerUpdate(registration.waiting);
  if (registration.installing) watch(registration.installing);
  registration.addEventListener('updatefound', () => watch(registration.installing));
  addEventListener('online', refresh);
  addEventListener('offline', refresh);
  if (registration.active) refresh();
  else if (!registration.installing) show('preparing', 'Preparing the offline copy…');
}
