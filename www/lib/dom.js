// Building DOM without HTML parsing: file names and headers are untrusted text.

/** Builds an element: el('div', {className: 'x'}, child, 'text', …). */
export function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}
