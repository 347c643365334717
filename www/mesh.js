// The 3D panel: the overlay's label surfaces, made in the mesh worker (lib/mesh.js) with progress
// and Cancel, drawn by lib/view3d.js with the current slice planes, shown and hidden with the label
// table's checkboxes, and downloaded as the same file `medseg mesh` writes.
import { MESH_DEFAULTS, MeshWorker } from './lib/mesh.js';
import { View3D, slicePlanes } from './lib/view3d.js';
import { sidecar } from './lib/display.js';

const $ = (id) => document.getElementById(id);

/**
 * Wires the panel. `getState()` gives the page's {info, overlay} (overlay: {values, table} or null);
 * `geometry()` resolves the open scan's geometryJson; `viewer` is the slice viewer;
 * `download(blob, name)` saves a file; `baseName()` names it.
 */
export function setupMeshPanel({ getState, geometry, viewer, download, baseName, onError }) {
  const worker = new MeshWorker();
  let view = null; // the View3D, made when the panel first opens (null without WebGL2)
  let shown = null; // the overlay whose surfaces are shown, or being made
  let run = null; // the computation under way: {cancel()}

  const open = () => !$('pane-3d').hidden;

  /** The label values the table hides. */
  const hiddenValues = () => [...(getState().overlay?.table.values() ?? [])].filter((l) => !l.visible).map((l) => l.value);

  function setOpen(on) {
    $('pane-3d').hidden = !on;
    $('show-3d').setAttribute('aria-pressed', String(on));
    if (on && !view) {
      try {
        view = new View3D($('view-3d'));
      } catch (e) {
        $('view-3d').textContent = `${e.message}; the mesh can still be downloaded, and the rest of the page works as before.`;
      }
    }
    sync();
  }

  async function compute(overlay) {
    run?.cancel();
    shown = overlay;
    view?.setSurfaces([]);
    $('download-mesh').disabled = true;
    setProgress(0, 0);
    $('mesh-progress').hidden = false;
    $('mesh-status').textContent = '';
    document.body.dataset.mesh = 'running';
    const mine = (run = { cancelled: false, cancel() { this.cancelled = true; this.job?.cancel(); } });
    try {
      const job = worker.compute({
        geometry: (await geometry()).geometry,
        values: overlay.values.slice(),
        table: JSON.stringify(sidecar(overlay.table)),
        options: MESH_DEFAULTS,
      }, setProgress);
      mine.job = job;
      if (mine.cancelled) job.cancel();
      const { surfaces, seconds, wasmBytes } = await job.result;
      const triangles = surfaces.reduce((n, s) => n + s.indices.length / 3, 0);
      view?.setSurfaces(surfaces);
      view?.setHidden(hiddenValues());
      showSlices();
      $('download-mesh').disabled = false;
      $('mesh-status').textContent = `${surfaces.length} surfaces · ${triangles.toLocaleString('en')} triangles · made in ${seconds.toFixed(1)} s · wasm memory ${(wasmBytes / 2 ** 20).toFixed(0)} MB`;
      Object.assign(document.body.dataset, { mesh: 'done', meshTriangles: triangles, meshSeconds: seconds.toFixed(2) });
    } catch (e) {
      if (mine.cancelled) return;
      shown = null;
      document.body.dataset.mesh = 'failed';
      onError(`Could not make the surfaces: ${e.message}`);
    } finally {
      if (run === mine) {
        run = null;
        $('mesh-progress').hidden = true;
      }
    }
  }

  function cancel() {
    run?.cancel();
    run = null;
    shown = null;
    $('mesh-progress').hidden = true;
    $('mesh-status').textContent = 'Cancelled.';
    document.body.dataset.mesh = 'cancelled';
  }

  /** Brings the panel up to date: surfaces for a new overlay (while open), hidden labels, slice planes. */
  function sync() {
    const { overlay } = getState();
    if (!overlay) {
      if (run) cancel();
      shown = null;
      view?.setSurfaces([]);
      $('download-mesh').disabled = true;
      if (open()) setOpen(false);
      return;
    }
    if (overlay !== shown && open()) compute(overlay);
    view?.setHidden(hiddenValues());
    showSlices();
  }

  /** The slices through the crosshair as outlines; the active view's one also clips when asked. */
  function showSlices() {
    const { info } = getState();
    if (!view || !info || !open()) return;
    const active = viewer.sliceAxis(viewer.active);
    const planes = slicePlanes(info.affine_mm, info.dims, viewer.voxelOf(viewer.cursor))
      .map((p) => ({ ...p, active: p.axis === active }));
    const clip = $('clip-3d').checked ? planes[active] : null;
    view.setPlanes(planes, clip);
  }

  function setProgress(done, total) {
    $('mesh-progress').querySelector('progress').value = total ? done / total : 0;
    $('mesh-stage').textContent = total ? `surfaces: ${done} of ${total} labels` : 'surfaces: starting';
  }

  async function saveMesh() {
    const name = `${baseName()}_mesh.${$('mesh-format').value}`;
    try {
      const bytes = await worker.file(name, $('mesh-lps').checked);
      download(new Blob([bytes], { type: 'application/octet-stream' }), name);
    } catch (e) {
      onError(`Could not write the mesh: ${e.message}`);
    }
  }

  $('show-3d').addEventListener('click', () => setOpen(!open()));
  $('cancel-mesh').addEventListener('click', cancel);
  $('reset-3d').addEventListener('click', () => view?.reset());
  $('clip-3d').addEventListener('change', showSlices);
  $('download-mesh').addEventListener('click', saveMesh);
  return { sync, showSlices, running: () => run !== null, view: () => view };
}
