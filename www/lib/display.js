// Display rules shared by the page and <medseg-viewer>: window presets, the looks-like-CT rule,
// orientation letters at the view edges, and the label table with its overlay lookup table.
import { defaultColour } from './palette.js';

/** CT windows: [width, level] in Hounsfield units. */
export const CT_PRESETS = { 'ct-brain': [80, 40], 'ct-soft': [400, 40], 'ct-lung': [1500, -600], 'ct-bone': [1800, 400] };

/** A CT: integers (signed, or scaled as DICOM's RescaleIntercept −1024 does) reaching −500 or lower (air in Hounsfield units). */
export function looksCt(info) {
  return !!info.value_range && info.value_range[0] <= -500 && (info.datatype.startsWith('int') || (!!info.scaling && info.datatype.startsWith('uint')));
}

/** The window a scan opens with: soft tissue for a CT, else the automatic (percentile) one. */
export function defaultPreset(info) {
  return looksCt(info) ? 'ct-soft' : 'auto';
}

/**
 * [lo, hi] of a window: a CT preset, "W/L" (e.g. "80/40"), "full" (the value range), or
 * "auto" (`auto`, the 0.5–99.5 % quantiles; the value range when there are none).
 */
export function windowFor(preset, { info, auto }) {
  const wl = preset.match(/^(\d+(?:\.\d+)?)\s*\/\s*(-?\d+(?:\.\d+)?)$/);
  const [width, level] = CT_PRESETS[preset] ?? (wl ? [Number(wl[1]), Number(wl[2])] : []);
  if (width !== undefined) return [level - width / 2, level + width / 2];
  if (preset === 'full' || !auto) return info.value_range ?? [0, 1];
  return auto;
}

/** Orientation letters at a view's edges (left, right, top, bottom); radiological unless `neurological`. */
export function edgeLetters(view, neurological = false) {
  return { axial: neurological ? 'LRAP' : 'RLAP', coronal: neurological ? 'LRSI' : 'RLSI', sagittal: 'APSI' }[view];
}

/** Writes the letters into the `.edge` spans of each `.view` under `root`. */
export function showEdgeLetters(root, neurological = false) {
  for (const view of root.querySelectorAll('.view')) {
    const letters = edgeLetters(view.dataset.view, neurological);
    view.querySelectorAll('.edge').forEach((span, i) => (span.textContent = letters[i]));
  }
}

/**
 * The label table of an overlay: Map value → {value, name, rgb, visible}, for every value counted
 * (`counts`: [[value, voxels], …]) named from `table` ([{value, name, rgb?}]) or "label N" with the
 * default colour; with `withUncounted`, also the table's labels that have no voxels.
 */
export function labelTable({ counts, table }, { withUncounted = true } = {}) {
  const named = new Map((table ?? []).map((l) => [l.value, l]));
  const entries = new Map();
  for (const [value] of counts) {
    if (value === 0) continue;
    const given = named.get(value);
    entries.set(value, { value, name: given?.name ?? `label ${value}`, rgb: given?.rgb ?? defaultColour(value), visible: true });
  }
  if (withUncounted) {
    for (const [value, l] of named) if (!entries.has(value)) entries.set(value, { ...l, rgb: l.rgb ?? defaultColour(value), visible: true });
  }
  return entries;
}

/** A label table as its JSON sidecar's object: {labels: [{value, name, rgb}, …]} in value order. */
export function sidecar(entries) {
  return { labels: [...entries.values()].sort((a, b) => a.value - b.value).map(({ value, name, rgb }) => ({ value, name, rgb })) };
}

/** How many label values a label map (16-bit) and the overlay's lookup table hold: 0 to 65535. */
export const LABEL_VALUES = 65536;

/** The viewer's overlay lookup table: RGBA per label value (0–65535); hidden labels transparent. */
export function overlayLut(entries) {
  const lut = new Uint8ClampedArray(LABEL_VALUES * 4);
  for (const l of entries.values()) lut.set([...l.rgb, l.visible === false ? 0 : 255], l.value * 4);
  return lut;
}
