// Default label colours, used when a label map comes without a JSON sidecar.

/** Distinct colours for the first labels (ITK-SNAP's default order). */
const FIRST = [
  [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255], [255, 0, 255],
  [255, 239, 213], [0, 0, 205], [205, 133, 63], [210, 180, 140], [102, 205, 170], [0, 0, 128],
  [0, 139, 139], [46, 139, 87], [255, 228, 225], [106, 90, 205], [221, 160, 221], [233, 150, 122],
  [165, 42, 42], [255, 250, 250],
];

/** The default colour of label `value` (1-based labels; golden-angle hues past the table). */
export function defaultColour(value) {
  if (value >= 1 && value <= FIRST.length) return FIRST[value - 1];
  const hue = (value * 137.508) % 360;
  return hslToRgb(hue, 0.65, 0.55);
}

function hslToRgb(h, s, l) {
  const a = s * Math.min(l, 1 - l);
  const f = (n) => {
    const k = (n + h / 30) % 12;
    return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [f(0), f(8), f(4)];
}

/** "#rrggbb" of [r, g, b] (what <input type="color"> holds). */
export const hex = (rgb) => '#' + rgb.map((v) => v.toString(16).padStart(2, '0')).join('');

/** [r, g, b] of "#rrggbb". */
export const rgbOf = (text) => [1, 3, 5].map((i) => parseInt(text.slice(i, i + 2), 16));
