// Request/reply with Web Workers, the one implementation every worker of the page and of
// <medseg-viewer> goes through (the worker side is serve.js).
// Out: {id, type, ...args}; in: {id, ok: true, ...reply}, {id, ok: false, error}, or
// {id, progress: {...}} any number of times before the reply.

/** A module worker answering requests: `call(type, args, transfer, onProgress)` resolves with its reply. */
export class WorkerClient {
  /**
   * `url`: the worker's module; `name`: how errors call it ("the MedSAM worker"); `onCrash(message)`:
   * called when the worker itself fails (a script error, out of memory), after pending calls are rejected.
   */
  constructor(url, { name = 'the worker', onCrash = null } = {}) {
    this.worker = new Worker(url, { type: 'module' });
    this.nextId = 1;
    this.pending = new Map();
    this.worker.onmessage = ({ data }) => {
      const entry = this.pending.get(data.id);
      if (!entry) return;
      if (data.progress) return entry.onProgress?.(data.progress);
      this.pending.delete(data.id);
      if (data.ok) entry.resolve(data);
      else entry.reject(new Error(data.error));
    };
    this.worker.onerror = (e) => {
      const message = e.message || `${name} stopped (out of memory?)`;
      this.rejectAll(message);
      onCrash?.(message);
    };
  }

  call(type, args = {}, transfer = [], onProgress = null) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress });
      this.worker.postMessage({ id, type, ...args }, transfer);
    });
  }

  /** Stops the worker; calls still pending reject with `reason`. */
  terminate(reason = 'the worker was stopped') {
    this.worker.terminate();
    this.rejectAll(reason);
  }

  rejectAll(message) {
    for (const { reject } of this.pending.values()) reject(new Error(message));
    this.pending.clear();
  }
}

/**
 * A disposable run: a fresh worker answers one request and is then terminated, so Cancel (or a long
 * run) never blocks another worker. Returns {result: Promise<reply>, cancel()}.
 */
export function runOnce(url, type, args, transfer = [], onProgress = null, name = 'the worker') {
  const client = new WorkerClient(url, { name });
  const result = client.call(type, args, transfer, onProgress).finally(() => client.terminate());
  return { result, cancel: () => client.terminate('cancelled') };
}
