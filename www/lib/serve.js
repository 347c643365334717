// The worker side of rpc.js: a worker lists its handlers and `serve` answers each request, one
// at a time (a wasm object is used by one call at a time; calls that run a network are async).

let queue = Promise.resolve();

/** Runs `work` after every earlier request (and every earlier `serially` task) has finished. */
export function serially(work) {
  const done = queue.then(work);
  queue = done.catch(() => {});
  return done;
}

/**
 * Answers {id, type, ...args} with `handlers[type](args, progress)`, which returns
 * {reply, transfer} (or nothing); `progress(fields)` sends {id, progress: fields}. `ready` is awaited
 * first: the wasm module's init(), or a function of the first request's arguments that loads it
 * (lib/wasm.js loadWasm: which build, how many threads); `beforeEach(type)` runs as each message arrives;
 * `explain(error)` turns a failure into the message sent back.
 * Every worker also answers `memory` with its wasm memory's size (wasmBytes).
 */
export function serve(handlers, { ready, beforeEach = () => {}, explain = messageOf } = {}) {
  let loading = typeof ready === 'function' ? null : ready;
  self.onmessage = async ({ data }) => {
    const { id, type, ...args } = data;
    beforeEach(type);
    try {
      loading ??= ready(args);
      const wasm = await loading;
      const progress = (fields) => self.postMessage({ id, progress: fields });
      const answer = await serially(() => (type === 'memory' ? {} : handle(handlers, type, args, progress)));
      const { reply = {}, transfer = [] } = answer ?? {};
      self.postMessage({ id, ok: true, ...reply, wasmBytes: reply.wasmBytes ?? wasm?.memory?.buffer.byteLength ?? null }, transfer);
    } catch (e) {
      self.postMessage({ id, ok: false, error: explain(e) });
    }
  };
}

function handle(handlers, type, args, progress) {
  if (!Object.hasOwn(handlers, type)) throw new Error(`unknown request ${type}`);
  return handlers[type](args, progress);
}

function messageOf(e) {
  return e instanceof Error ? e.message : String(e);
}

/**
 * A network's failure in plain words: a GPU that cannot be used points at the Backend picker; a
 * failed allocation (wasm aborts with "unreachable") says the browser ran out of memory `forWhat`.
 */
export function explainRunError(e, forWhat, advice = '') {
  const message = messageOf(e);
  if (/^the GPU backend/.test(message)) return `${message}: choose Auto or CPU under Backend`;
  if (/unreachable|out of memory|allocation/i.test(message) || e instanceof RangeError) {
    return `the browser ran out of memory for ${forWhat} (WebAssembly can use at most 4 GB)${advice}`;
  }
  return message;
}

/**
 * The Scan a model or MedSAM runs on, rebuilt from the scan worker's {geometry, values: the stored
 * voxels' bytes} (Scan.fromVoxels: no file decoding, the voxels keep their stored type). The bytes
 * are copied into wasm memory; the transferred buffer is then released at once instead of staying
 * alive beside that copy.
 */
export function scanFromInput(Scan, { geometry, values }) {
  const scan = Scan.fromVoxels(geometry, values);
  values.buffer.transfer?.(0);
  return scan;
}
