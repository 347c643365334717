// The offline copy: registers the service worker (sw.js) and shows whether the app is available
// offline and how much it keeps. An update is applied only when no scan is open or when the user
// clicks "Update", and then the page reloads: one version at a time.

/**
 * @param status element that receives the state text (body[data-offline] mirrors it for tests:
 *   unsupported | preparing | ready | update | failed)
 * @param updateButton button shown when a new version is ready
 * @param isIdle () => true when reloading loses nothing (no scan open, nothing running)
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
  const hadController = !!navigator.serviceWorker.controller;
  let reloading = false;
  navigator.serviceWorker.addEventListener('controllerchange', () => {
    // A new version took over: reload so that no page mixes the old and the new files.
    if (hadController && !reloading) {
      reloading = true;
      location.reload();
    } else {
      refresh();
    }
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
    const channel = new MessageChannel();
    const reply = new Promise((resolve) => { channel.port1.onmessage = ({ data }) => resolve(data); });
    worker.postMessage({ type: 'status' }, [channel.port2]);
    const { complete, bytes, version } = await reply;
    if (document.body.dataset.offline === 'update') return;
    if (!complete) return show('preparing', 'Preparing the offline copy…');
    document.body.dataset.offlineBytes = bytes;
    document.body.dataset.offlineVersion = version;
    show('ready', `✓ Available offline · ${(bytes / 1e6).toFixed(1)} MB cached${navigator.onLine ? '' : ' · you are offline'}`);
  }

  function offerUpdate(worker) {
    const apply = () => worker.postMessage({ type: 'skip-waiting' });
    if (isIdle()) return apply();
    show('update', 'A new version is ready');
    updateButton.hidden = false;
    updateButton.onclick = apply;
  }

  function watch(worker) {
    if (!hadController && !navigator.serviceWorker.controller) show('preparing', 'Preparing the offline copy…');
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
