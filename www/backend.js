// The Backend and Threads pickers (remembered in localStorage): where the workers run networks
// and on how many threads, and the plain-words line that says which backend and build ran, why,
// and what happened on it.
import { defaultThreads } from './lib/wasm.js';

const KEY = 'medseg.backend';
const THREADS_KEY = 'medseg.threads';
const NAMES = ['auto', 'gpu', 'cpu'];
const picker = () => document.getElementById('backend');
const threadsPicker = () => document.getElementById('threads');

/** Restores the remembered choices and remembers each change. */
export function setupBackendPicker() {
  const cores = navigator.hardwareConcurrency || 1;
  for (let n = 1; n <= Math.max(cores, defaultThreads()); n++) {
    threadsPicker().append(new Option(n === defaultThreads() ? `${n} (default)` : String(n), String(n)));
  }
  threadsPicker().value = String(defaultThreads());
  remembered(picker(), KEY, (saved) => NAMES.includes(saved));
  remembered(threadsPicker(), THREADS_KEY, (saved) => [...threadsPicker().options].some((o) => o.value === saved));
}

/** Gives `select` its value saved under `key` (when `valid`) and saves each change. */
function remembered(select, key, valid) {
  let saved = null;
  try {
    saved = localStorage.getItem(key);
  } catch {
    // storage disabled: the choice lasts until the page is closed
  }
  if (valid(saved)) select.value = saved;
  select.addEventListener('change', () => {
    try {
      localStorage.setItem(key, select.value);
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

/** Threads asked for networks (the build that runs says how many it got: lib/wasm.js). */
export function chosenThreads() {
  const value = Number(threadsPicker()?.value);
  return Number.isInteger(value) && value >= 1 ? value : defaultThreads();
}

/**
 * Lines for a status line: `backend` is the worker's `useBackend` answer (e.g. "GPU: … (self-check …)"
 * or "CPU (no GPU adapter is available)"), `build` which wasm build ran and on how many threads,
 * `notes` what happened on the GPU, `gpuBytes` its peak.
 */
export function backendLines({ backend, build, notes = [], gpuBytes = 0 }) {
  if (!backend) return [];
  const memory = gpuBytes > 0 ? ` · GPU memory peak ${(gpuBytes / 2 ** 20).toFixed(0)} MB` : '';
  const wasm = build ? ` · ${build}` : '';
  // A GPU failure mid-run sends the work back to the CPU; its note says why.
  const fellBack = notes.some((n) => /finished on the CPU/.test(n));
  const ran = fellBack ? `started on ${backend}, finished on the CPU (the GPU failed)` : `ran on ${backend}`;
  return [`${ran}${wasm}${memory}`, ...notes.map((n) => `note: ${n}`)];
}
