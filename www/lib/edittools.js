// The editing and measuring tools, one panel for the page and <medseg-viewer>: brush, eraser
// (disc in the slice or sphere, radius in mm), fill, the label being painted (add, rename,
// recolour, delete), which voxels may change, undo/redo, a ruler in mm and value statistics in a
// box or a label. Drives a Viewer (setTool) and edits the host's overlay through LabelEdits.
import { LabelEdits } from './edit.js';
import { distanceMm, valueStats, boxIndices, labelIndices } from './measure.js';
import { defaultColour, hex, rgbOf } from './palette.js';
import { el } from './dom.js';

/** Keyboard shortcuts: key → what it does (shown in the panel; the README lists the same). */
export const SHORTCUTS = [
  ['Esc', 'crosshair (no tool)'], ['B', 'brush'], ['E', 'eraser'], ['F', 'fill'], ['M', 'ruler'], ['R', 'box statistics'],
  ['S', 'disc ↔ sphere'], ['[ / ]', 'radius − / +'], ['Ctrl+Z', 'undo'], ['Ctrl+Shift+Z or Ctrl+Y', 'redo'],
];

const TOOLS = [['none', 'Crosshair', 'Escape'], ['brush', 'Brush', 'b'], ['eraser', 'Eraser', 'e'], ['fill', 'Fill', 'f'], ['ruler', 'Ruler', 'm'], ['box', 'Box stats', 'r']];

const fmt = (v) => (Number.isFinite(v) ? Number(v.toPrecision(6)).toString() : '—');

/**
 * @param root element the panel is built into
 * @param viewer the Viewer the tools draw on
 * @param host {scan() → {info} | null, overlay() → {values, counts, table} | null,
 *   ensureOverlay() → the overlay (an empty one on the scan's grid when there is none),
 *   changed(edit) after every edit, undo and redo (redraw, table, unsaved), labelsChanged() after
 *   a label is added, renamed or recoloured}
 */
export class EditTools {
  constructor(root, viewer, host) {
    Object.assign(this, { viewer, host });
    this.tool = 'none';
    this.edits = null;
    this.stroke = null; // {last: ijk, options} while the brush or eraser is down
    this.ui = {
      tools: TOOLS.map(([name, title, key]) => el('button', { type: 'button', textContent: title, title: `${title} (${key === 'Escape' ? 'Esc' : key.toUpperCase()})` })),
      radius: el('input', { type: 'number', min: 0.1, step: 0.5, value: 3, size: 4 }),
      shape: el('select', {}, el('option', { value: 'disc', textContent: 'disc in the slice' }), el('option', { value: 'sphere', textContent: 'sphere (3D)' })),
      label: el('select', {}),
      name: el('input', { size: 12 }),
      colour: el('input', { type: 'color' }),
      addLabel: el('button', { type: 'button', textContent: 'New label' }),
      deleteLabel: el('button', { type: 'button', textContent: 'Delete label' }),
      lock: el('select', {}),
      fillBy: el('select', {}, el('option', { value: 'label', textContent: 'the label clicked' }), el('option', { value: 'range', textContent: 'values from … to' })),
      lo: el('input', { type: 'number', step: 'any', size: 6, placeholder: 'from' }),
      hi: el('input', { type: 'number', step: 'any', size: 6, placeholder: 'to' }),
      undo: el('button', { type: 'button', textContent: 'Undo', title: 'Undo (Ctrl+Z)' }),
      redo: el('button', { type: 'button', textContent: 'Redo', title: 'Redo (Ctrl+Shift+Z or Ctrl+Y)' }),
      labelStats: el('button', { type: 'button', textContent: 'Statistics of the label' }),
      readout: el('output', { className: 'measure-readout' }),
    };
    const u = this.ui;
    for (const [key, control] of Object.entries({ radius: 'brush radius (mm)', shape: 'brush shape', label: 'label to paint', name: 'label name', colour: 'label colour', lock: 'paint over', fillBy: 'fill bound', lo: 'fill range from', hi: 'fill range to' })) {
      u[key].setAttribute('aria-label', control);
    }
    root.append(el('div', { className: 'edit-tools' },
      el('div', { className: 'tool-buttons' }, ...u.tools),
      el('div', {}, el('label', {}, 'Radius ', u.radius, ' mm'), ' ', u.shape),
      el('div', {}, el('label', {}, 'Label ', u.label), ' ', u.addLabel, ' ', u.deleteLabel),
      el('div', {}, u.name, ' ', u.colour),
      el('div', {}, el('label', {}, 'Paint over ', u.lock)),
      el('div', {}, el('label', {}, 'Fill ', u.fillBy), ' ', u.lo, ' ', u.hi),
      el('div', {}, u.undo, ' ', u.redo, ' ', u.labelStats),
      u.readout,
      el('p', { className: 'muted help' }, 'Keys: ' + SHORTCUTS.map(([k, what]) => `${k} ${what}`).join(' · ')),
    ));
    u.tools.forEach((button, i) => button.addEventListener('click', () => this.select(TOOLS[i][0])));
    u.radius.addEventListener('change', () => this.setRadius(Number(u.radius.value)));
    u.label.addEventListener('change', () => this.setLabel(Number(u.label.value)));
    u.name.addEventListener('change', () => this.renameLabel(u.name.value));
    u.colour.addEventListener('input', () => this.recolourLabel(rgbOf(u.colour.value)));
    u.addLabel.addEventListener('click', () => this.addLabel());
    u.deleteLabel.addEventListener('click', () => this.deleteLabel());
    u.fillBy.addEventListener('change', () => this.syncControls());
    u.undo.addEventListener('click', () => this.undo());
    u.redo.addEventListener('click', () => this.redo());
    u.labelStats.addEventListener('click', () => this.statsOfLabel());
    this.label = 1;
    this.sync();
  }

  // The API (the buttons and keys call the same).

  /** Chooses a tool: none | brush | eraser | fill | ruler | box. */
  select(tool) {
    if (!TOOLS.some(([name]) => name === tool)) throw new Error(`no tool "${tool}"`);
    this.tool = tool;
    this.ui.tools.forEach((b, i) => b.setAttribute('aria-pressed', String(TOOLS[i][0] === tool)));
    this.viewer.setTool(tool === 'none' ? null : this.pointerTool());
    this.syncControls();
    this.onSelect?.(tool);
  }

  setRadius(mm) {
    if (!(mm > 0)) return;
    this.ui.radius.value = String(mm);
  }

  get radiusMm() {
    return Math.max(0.1, Number(this.ui.radius.value) || 0.1);
  }

  setShape(shape) {
    this.ui.shape.value = shape === 'sphere' ? 'sphere' : 'disc';
  }

  /** The label value the brush and fill paint. */
  setLabel(value) {
    this.label = value;
    this.sync();
  }

  /** Which voxels edits may change: 'all', 'background', or a label value. */
  get lock() {
    const v = this.ui.lock.value;
    return v === 'all' || v === 'background' ? v : Number(v);
  }

  setLock(lock) {
    this.sync();
    this.ui.lock.value = String(lock);
  }

  /** The edit history of the overlay shown now (a new overlay starts a new one). */
  history() {
    const overlay = this.host.overlay();
    if (!overlay) return null;
    if (this.edits?.values !== overlay.values) {
      const { info } = this.host.scan();
      this.edits = new LabelEdits({ values: overlay.values, counts: overlay.counts, dims: info.dims, affine: info.affine_mm });
    }
    return this.edits;
  }

  /** The edits of the overlay, creating an empty overlay on the scan's grid if there is none. */
  editable() {
    if (!this.host.scan()) throw new Error('open a scan first');
    const overlay = this.host.ensureOverlay();
    if (!overlay.table.has(this.label)) this.addLabel(this.label);
    return this.history();
  }

  undo() {
    const edit = this.history()?.undo();
    if (edit) this.afterHistory(edit, false);
    return !!edit;
  }

  redo() {
    const edit = this.history()?.redo();
    if (edit) this.afterHistory(edit, true);
    return !!edit;
  }

  /** Bytes the undo/redo history holds. */
  historyBytes() {
    return this.history()?.historyBytes() ?? 0;
  }

  /** Adds a label (the next free value unless given) and paints with it. */
  addLabel(value) {
    const overlay = this.host.ensureOverlay();
    const v = value ?? Math.max(0, ...overlay.table.keys()) + 1;
    if (!overlay.table.has(v)) overlay.table.set(v, { value: v, name: `label ${v}`, rgb: defaultColour(v), visible: true });
    this.label = v;
    this.host.labelsChanged();
    this.sync();
    return v;
  }

  renameLabel(name) {
    const entry = this.host.overlay()?.table.get(this.label);
    if (!entry || !name.trim()) return;
    entry.name = name.trim();
    this.host.labelsChanged();
    this.sync();
  }

  recolourLabel(rgb) {
    const entry = this.host.overlay()?.table.get(this.label);
    if (!entry) return;
    entry.rgb = rgb;
    this.host.labelsChanged();
  }

  /** Deletes the label being painted: its voxels become 0 and it leaves the table (undo brings both back). */
  deleteLabel() {
    const overlay = this.host.overlay();
    const entry = overlay?.table.get(this.label);
    if (!entry) return;
    const edit = this.history().relabel(entry.value, 0, { removed: { ...entry } });
    overlay.table.delete(entry.value);
    this.label = Math.min(...overlay.table.keys(), Infinity);
    if (!Number.isFinite(this.label)) this.label = 1;
    this.host.changed(edit);
    this.host.labelsChanged();
    this.sync();
  }

  /** Distance in mm between voxels `a` and `b`, shown as the ruler would. */
  measure(a, b, view = this.viewer.active) {
    const { info } = this.host.scan();
    const mm = distanceMm(info.affine_mm, a, b);
    this.viewer.setMarks([{ kind: 'line', view, a, b, text: `${mm.toFixed(2)} mm` }]);
    this.show(`Distance: ${mm.toFixed(3)} mm (voxel ${a.join(' ')} to ${b.join(' ')})`, { distanceMm: mm });
    return mm;
  }

  /** Statistics of the scan's values in the box between voxels `a` and `b`. */
  statsOfBox(a, b, view = this.viewer.active) {
    const { info } = this.host.scan();
    const stats = valueStats(this.viewer.volume.data, boxIndices(info.dims, a, b), info.voxel_volume_mm3);
    this.viewer.setMarks([{ kind: 'box', view, a, b }]);
    this.showStats('Box', stats);
    return stats;
  }

  /** Statistics of the scan's values inside the label being painted. */
  statsOfLabel(value = this.label) {
    const overlay = this.host.overlay();
    if (!overlay) return null;
    const { info } = this.host.scan();
    const stats = valueStats(this.viewer.volume.data, labelIndices(overlay.values, value), info.voxel_volume_mm3);
    const name = overlay.table.get(value)?.name ?? `label ${value}`;
    this.showStats(name, stats);
    return stats;
  }

  /** Handles a key (shortcuts); true when it was one. */
  onKey(e) {
    const target = e.composedPath?.()[0] ?? e.target;
    if (['INPUT', 'SELECT', 'TEXTAREA'].includes(target?.tagName) || !this.host.scan()) return false;
    const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    if ((e.ctrlKey || e.metaKey) && key === 'z') return this.handled(e, () => (e.shiftKey ? this.redo() : this.undo()));
    if ((e.ctrlKey || e.metaKey) && key === 'y') return this.handled(e, () => this.redo());
    if (e.ctrlKey || e.metaKey || e.altKey) return false;
    const tool = TOOLS.find(([, , k]) => k === key);
    if (tool) return this.handled(e, () => this.select(tool[0]));
    if (key === 's') return this.handled(e, () => this.setShape(this.ui.shape.value === 'sphere' ? 'disc' : 'sphere'));
    if (key === '[' || key === ']') return this.handled(e, () => this.setRadius(Math.max(0.5, this.radiusMm + (key === ']' ? 0.5 : -0.5))));
    return false;
  }

  /** Refreshes the label and lock pickers from the overlay's table. */
  sync() {
    const table = this.host.overlay()?.table ?? new Map();
    const entries = [...table.values()].sort((a, b) => a.value - b.value);
    const option = (value, text) => el('option', { value: String(value), textContent: text });
    const current = this.label;
    this.ui.label.replaceChildren(...entries.map((l) => option(l.value, `${l.value} ${l.name}`)));
    if (!table.has(current)) this.ui.label.prepend(option(current, `${current} (new)`));
    this.ui.label.value = String(current);
    const entry = table.get(current);
    this.ui.name.value = entry?.name ?? `label ${current}`;
    this.ui.colour.value = hex(entry?.rgb ?? defaultColour(current));
    const lock = this.ui.lock.value || 'all';
    this.ui.lock.replaceChildren(option('all', 'everything'), option('background', 'background only'), ...entries.map((l) => option(l.value, `label ${l.value} only`)));
    this.ui.lock.value = [...this.ui.lock.options].some((o) => o.value === lock) ? lock : 'all';
    this.syncControls();
  }

  // Internals.

  syncControls() {
    const painting = ['brush', 'eraser'].includes(this.tool);
    this.ui.lo.hidden = this.ui.hi.hidden = this.ui.fillBy.value !== 'range';
    this.ui.radius.disabled = this.ui.shape.disabled = !painting && this.tool !== 'none';
    const history = this.edits && this.edits.values === this.host.overlay()?.values ? this.edits : null;
    this.ui.undo.disabled = !history?.undoStack.length;
    this.ui.redo.disabled = !history?.redoStack.length;
    this.ui.deleteLabel.disabled = this.ui.labelStats.disabled = !this.host.overlay()?.table.has(this.label);
  }

  handled(e, action) {
    e.preventDefault();
    action();
    return true;
  }

  afterHistory(edit, forward) {
    const table = this.host.overlay().table;
    if (edit.removed) {
      if (forward) table.delete(edit.removed.value);
      else table.set(edit.removed.value, { ...edit.removed });
      this.host.labelsChanged();
    }
    this.host.changed(edit);
    this.sync();
  }

  /** What the viewer's left-drag does with the chosen tool. */
  pointerTool() {
    const tool = this.tool;
    const view = (name) => ({ sliceAxis: this.viewer.sliceAxis(name) });
    if (tool === 'brush' || tool === 'eraser') {
      return {
        down: (ijk, name) => {
          const edits = this.editable();
          const options = { radiusMm: this.radiusMm, sphere: this.ui.shape.value === 'sphere', ...view(name), lock: tool === 'eraser' && this.lock === 'background' ? 'all' : this.lock };
          edits.begin(tool === 'eraser' ? 0 : this.label);
          edits.dab(ijk, options);
          this.stroke = { last: ijk, options };
          this.viewer.draw();
        },
        move: (ijk) => {
          if (!this.stroke) return;
          if (this.edits.line(this.stroke.last, ijk, this.stroke.options)) this.viewer.draw();
          this.stroke.last = ijk;
        },
        up: () => {
          this.stroke = null;
          const edit = this.edits?.end({ kind: tool });
          if (edit) this.host.changed(edit);
          this.syncControls();
        },
        hover: (ijk) => this.viewer.setBrush(ijk && { ijk, radiusMm: this.radiusMm }),
      };
    }
    if (tool === 'fill') {
      return {
        down: (ijk, name) => {
          const edits = this.editable();
          const range = this.ui.fillBy.value === 'range' ? [Number(this.ui.lo.value), Number(this.ui.hi.value)] : null;
          if (range && !range.every((v, i) => this.ui[i ? 'hi' : 'lo'].value !== '' && Number.isFinite(v))) {
            return this.show('Fill: give the range of values (from, to) first.');
          }
          const edit = edits.fill(ijk, { value: this.label, ...view(name), range, data: this.viewer.volume.data, lock: this.lock });
          if (edit) this.host.changed(edit);
          this.syncControls();
        },
        move: () => {},
        up: () => {},
      };
    }
    // Ruler and box statistics: drag from one voxel to another.
    let start = null;
    const update = (ijk, name) => (tool === 'ruler' ? this.measure(start, ijk, name) : this.statsOfBox(start, ijk, name));
    return {
      down: (ijk, name) => {
        start = ijk;
        update(ijk, name);
      },
      move: (ijk, name) => start && update(ijk, name),
      up: () => (start = null),
    };
  }

  show(text, data = {}) {
    this.ui.readout.textContent = text;
    for (const key of Object.keys(this.ui.readout.dataset)) delete this.ui.readout.dataset[key];
    Object.assign(this.ui.readout.dataset, data);
  }

  showStats(what, s) {
    this.show(`${what}: ${s.voxels} voxels · ${s.mL.toFixed(3)} mL · mean ${fmt(s.mean)} · SD ${fmt(s.sd)} · min ${fmt(s.min)} · max ${fmt(s.max)}`,
      { voxels: s.voxels, ml: s.mL, mean: s.mean, sd: s.sd, min: s.min, max: s.max });
  }
}
