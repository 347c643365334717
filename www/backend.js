// The Backend picker (Auto / GPU / CPU, remembered in localStorage): where the workers run
// networks, and the plain-words line that says which backend ran, why, and what happened on it.

const KEY = 'medseg.backend';
const NAMES = ['auto', 'gpu', 'cpu'];
const picker = () => document.getElementById('backend');

/** Restores the remembered choice and remembers each change. */
export function setupBackendPicker() {
  let saved = null;
  try {
    saved = localStorage.getItem(KEY);
  } catch {
    // storage disabled: the choice lasts until the page is closed
  }
  if (NAMES.includes(saved)) picker().value = saved;
  picker().addEventListener('change', () => {
    try {
      localStorage.setItem(KEY, picker().value);
    } catch {
      // as above
    }
  });
}

/** "auto", "gpu" or "cpu" (what the workers pass to `useBackend`). */
export function chosenBackend() {
  const value = picker()?.value;
  return NAMES.includes(value) ? value : 'auto';
}

/**
 * Lines for a status line: `backend` is the worker's `useBackend` answer (e.g. "GPU: … (self-check …)"
 * or "CPU (no GPU adapter is available)"), `notes` what happened on the GPU, `gpuBytes` its peak.
 */
export function backendLines({ backend, notes = [], gpuBytes = 0 }) {
  if (!backend) return [];
  const memory = gpuBytes > 0 ? ` · GPU memory peak ${(gpuBytes / 2 ** 20).toFixed(0)} MB` : '';
  // A GPU failure mid-run sends the work back to the CPU; its note says why.
  const fellBack = notes.some((n) => /finished on the CPU/.test(n));
  const ran = fellBack ? `started on ${backend}, finished on the CPU (the GPU failed)` : `ran on ${backend}`;
  return [`${ran}${memory}`, ...notes.map((n) => `note: ${n}`)];
}
