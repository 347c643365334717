// Comparing the labels shown with a reference label map: the table of Dice, HD95 and volumes
// per label (computed in the scan worker by the same Rust code as `medseg eval`), and the
// agreement view that colours every labelled voxel by where it is labelled.
import { LABEL_VALUES } from './display.js';

/** The agreement view's classes: value → {name, rgb}. */
export const AGREEMENT = new Map([
  [1, { value: 1, name: 'agree', rgb: [40, 200, 80] }],
  [2, { value: 2, name: 'only in mine', rgb: [230, 60, 50] }],
  [3, { value: 3, name: 'only in reference', rgb: [60, 120, 255] }],
  [4, { value: 4, name: 'different labels', rgb: [240, 200, 30] }],
]);

/**
 * The agreement map of two label maps: 1 where both have the same label, 2 where only `mine` is
 * labelled, 3 where only `reference` is, 4 where both are labelled differently, 0 elsewhere.
 */
export function agreementValues(mine, reference) {
  const out = new Uint16Array(mine.length);
  for (let i = 0; i < mine.length; i++) {
    const a = mine[i];
    const b = reference[i];
    if (a === 0 && b === 0) continue;
    out[i] = a === b ? 1 : b === 0 ? 2 : a === 0 ? 3 : 4;
  }
  return out;
}

/**
 * Rows of the comparison table from the worker's reply ({labels: [{label, dice, hd95_mm,
 * ml_mine, ml_reference}], mean_dice}), named from `names` (value → name).
 */
export function comparisonRows(reply, names) {
  return reply.labels.map((r) => ({ ...r, name: names.get(r.label) ?? `label ${r.label}`, ml_difference: r.ml_mine - r.ml_reference }));
}

/** The comparison as a <table> (cells as text: names come from files). */
export function comparisonTable(rows, meanDice) {
  const table = document.createElement('table');
  table.className = 'compare-table';
  const head = table.createTHead().insertRow();
  for (const h of ['Label', 'Name', 'Dice', 'HD95 mm', 'Mine mL', 'Ref. mL', 'Diff. mL']) head.append(Object.assign(document.createElement('th'), { textContent: h }));
  const body = table.createTBody();
  for (const r of rows) {
    const tr = body.insertRow();
    tr.dataset.label = r.label;
    tr.dataset.dice = r.dice;
    tr.dataset.hd95 = r.hd95_mm ?? '';
    const cells = [r.label, r.name, r.dice.toFixed(4), r.hd95_mm === null ? '—' : r.hd95_mm.toFixed(2), r.ml_mine.toFixed(2), r.ml_reference.toFixed(2), r.ml_difference.toFixed(2)];
    cells.forEach((text, i) => {
      const td = tr.insertCell();
      td.textContent = String(text);
      if (i !== 1) td.className = 'num';
    });
  }
  if (meanDice !== null && meanDice !== undefined) {
    const caption = table.createCaption();
    caption.textContent = `mean Dice over ${rows.length} labels: ${meanDice.toFixed(4)}`;
  }
  return table;
}

/** The agreement view's lookup table (RGBA per class value). */
export function agreementLut() {
  const lut = new Uint8ClampedArray(LABEL_VALUES * 4);
  for (const { value, rgb } of AGREEMENT.values()) lut.set([...rgb, 255], value * 4);
  return lut;
}

/**
 * The "Compare with a reference" controls of the page and <medseg-viewer>: a Compare button, the
 * view mode (labels | agreement) and the table. `host`: {call(type, args, transfer) → the scan
 * worker's reply, mine() → the overlay's values or null, names() → Map value → name, voxels() →
 * the grid's voxel count, showAgreement(values | null) → draws the agreement map, or the labels again,
 * compared(result) after each comparison (optional), onError(message) when the button's comparison fails}.
 */
export class ComparePanel {
  constructor(root, host) {
    this.host = host;
    this.reference = null; // {values, table, name}
    this.ui = {
      compare: Object.assign(document.createElement('button'), { type: 'button', textContent: 'Compare', disabled: true }),
      mode: document.createElement('select'),
      result: document.createElement('div'),
      legend: document.createElement('p'),
    };
    this.ui.mode.setAttribute('aria-label', 'overlay shows');
    for (const [value, text] of [['labels', 'my labels'], ['agreement', 'agreement with the reference']]) {
      this.ui.mode.append(Object.assign(document.createElement('option'), { value, textContent: text }));
    }
    this.ui.mode.disabled = true;
    this.ui.legend.className = 'muted';
    this.ui.legend.hidden = true;
    this.ui.legend.append(...[...AGREEMENT.values()].flatMap(({ name, rgb }) => {
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.backgroundColor = `rgb(${rgb.join(',')})`;
      return [swatch, ` ${name} `];
    }));
    const label = document.createElement('label');
    label.append('Show ', this.ui.mode);
    root.append(this.ui.compare, ' ', label, this.ui.legend, this.ui.result);
    this.ui.compare.addEventListener('click', () => this.compare().catch((e) => host.onError?.(e.message)));
    this.ui.mode.addEventListener('change', () => this.setMode(this.ui.mode.value));
  }

  /** Reads a reference label map (files: [{name, bytes}], a .json table optional); it stays hidden until compared. */
  async load(files, name) {
    const reply = await this.host.call('reference', { files }, files.map((f) => f.bytes));
    this.reference = { values: reply.values, table: new Map((reply.table ?? []).map((l) => [l.value, l.name])), name };
    this.ui.compare.disabled = false;
    this.ui.result.replaceChildren(Object.assign(document.createElement('p'), { className: 'muted', textContent: `Reference: ${name} (hidden until you compare)` }));
    this.setMode('labels');
  }

  /** Compares the labels shown with the reference: shows and returns {rows, meanDice}. */
  async compare() {
    if (!this.reference) throw new Error('open a reference label map first');
    const mine = this.host.mine()?.slice() ?? new Uint16Array(this.host.voxels());
    const reference = this.reference.values.slice();
    const reply = await this.host.call('compare', { mine, reference }, [mine.buffer, reference.buffer]);
    const names = new Map([...this.reference.table, ...this.host.names()]);
    const rows = comparisonRows(reply, names);
    this.ui.result.replaceChildren(comparisonTable(rows, reply.mean_dice));
    this.ui.mode.disabled = false;
    this.result = { rows, meanDice: reply.mean_dice };
    if (this.mode === 'agreement') this.refresh();
    this.host.compared?.(this.result);
    return this.result;
  }

  /** 'labels' (the overlay as it is) or 'agreement' (where mine and the reference agree). */
  setMode(mode) {
    this.mode = mode === 'agreement' && this.reference ? 'agreement' : 'labels';
    this.ui.mode.value = this.mode;
    this.ui.legend.hidden = this.mode !== 'agreement';
    this.refresh();
  }

  /** Redraws the agreement view after the labels changed (nothing in 'labels' mode). */
  refresh() {
    if (this.mode !== 'agreement') return this.host.showAgreement(null);
    const mine = this.host.mine() ?? new Uint16Array(this.host.voxels());
    this.host.showAgreement(agreementValues(mine, this.reference.values));
  }

  /** Forgets the reference (a new scan was opened). */
  reset() {
    this.reference = null;
    this.result = null;
    this.mode = 'labels';
    this.ui.compare.disabled = this.ui.mode.disabled = true;
    this.ui.mode.value = 'labels';
    this.ui.legend.hidden = true;
    this.ui.result.replaceChildren();
  }
}
