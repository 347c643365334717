// The worker that makes label surfaces (lib/mesh.js): it holds one Surfaces (wasm) for the overlay
// it was given, sends each label's triangles to the page (transferred) and, when asked, the bytes of
// a mesh file, the same bytes `medseg mesh` writes. Cancel terminates it.
// Requests: surfaces {geometry (the scan's geometryJson), values: Uint16Array, table: sidecar JSON or
// "", options: JSON} → progress {done, total} per label, reply {surfaces: [{value, name, rgb,
// positions, normals, indices, volumeMl}], seconds}; file {name, lps} → {bytes}.
import init, { Surfaces } from '../pkg/medseg.js';
import { explainRunError, serve } from '../lib/serve.js';

let surfaces = null; // the Surfaces last made here

const handlers = {
  async surfaces({ geometry, values, table, options }, progress) {
    surfaces?.free();
    surfaces = null;
    const started = performance.now();
    const made = new Surfaces(geometry, values, table, options, (done, total) => progress({ done, total }));
    const seconds = (performance.now() - started) / 1000;
    surfaces = made;
    const list = [];
    for (let i = 0; i < made.count(); i++) {
      list.push({
        value: made.value(i), name: made.name(i), rgb: [...made.rgb(i)], volumeMl: made.volumeMl(i),
        positions: made.positions(i), normals: made.normals(i), indices: made.indices(i),
      });
    }
    const transfer = list.flatMap((s) => [s.positions.buffer, s.normals.buffer, s.indices.buffer]);
    return { reply: { surfaces: list, seconds }, transfer };
  },
  async file({ name, lps }) {
    if (!surfaces) throw new Error('no surfaces yet');
    const bytes = surfaces.file(name, lps);
    return { reply: { bytes }, transfer: [bytes.buffer] };
  },
};

serve(handlers, {
  ready: init(),
  explain: (e) => explainRunError(e, 'these surfaces', '. Try fewer labels, or `medseg mesh` on the command line.'),
});
