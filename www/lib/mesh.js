// Label surfaces for the 3D view, made in a worker (workers/mesh.js) that then keeps them to write
// mesh files on request. Each computation starts a fresh worker (the previous one is terminated);
// Cancel terminates it.
import { WorkerClient } from './rpc.js';

/** The page's default mesh options: smoothed, and few enough triangles that 100+ labels stay drawable. */
export const MESH_DEFAULTS = { smooth: 10, target_triangles: 20000 };

export class MeshWorker {
  constructor() {
    this.client = null;
  }

  /**
   * Surfaces of an overlay: `geometry` the scan's geometryJson, `values` (Uint16Array, transferred),
   * `table` the label sidecar's JSON, `options` as MESH_DEFAULTS; `onProgress(done, total)` per label.
   * Returns {result: Promise<{surfaces: [{value, name, rgb, positions, normals, indices, volumeMl}],
   * seconds, wasmBytes}>, cancel()}.
   */
  compute({ geometry, values, table, options = MESH_DEFAULTS }, onProgress) {
    this.terminate();
    const client = new WorkerClient(new URL('../workers/mesh.js', import.meta.url), { name: 'the mesh worker' });
    this.client = client;
    const result = client.call('surfaces', { geometry, values, table, options: JSON.stringify(options) }, [values.buffer],
      ({ done, total }) => onProgress?.(done, total));
    return { result, cancel: () => this.terminate('cancelled') };
  }

  /** The bytes `medseg mesh` writes for the surfaces last computed, to a file `name` (.glb, .stl, .obj, .ply). */
  async file(name, lps = false) {
    if (!this.client) throw new Error('no surfaces yet');
    return (await this.client.call('file', { name, lps })).bytes;
  }

  /** Stops the worker and forgets its surfaces. */
  terminate(reason) {
    this.client?.terminate(reason);
    this.client = null;
  }
}
