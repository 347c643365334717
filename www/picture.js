// 2D pictures (PNG, JPEG: X-ray, dermoscopy, endoscopy photos) in the page: the browser decodes
// them, and they open as a one-slice scan through a NIfTI-1 file built here, laid out like the
// `medseg medsam` CLI's masks: voxel i = column x, j = row y, sform [[1,0,0,0],[0,−1,0,0],[0,0,1,0]]
// (aligned, code 2), 1 mm pixels. Grey pictures (R = G = B everywhere) become uint8, colour ones RGB24.

/** Whether a File (or {name, bytes}) is a PNG or JPEG picture. */
export function isPicture(file) {
  return /\.(png|jpe?g)$/i.test(file.name ?? '') || /^image\/(png|jpeg)$/.test(file.type ?? '');
}

/** Decodes a picture with the browser: {rgba: Uint8Array (4 per pixel, row by row), width, height}. */
export async function decodePicture(file) {
  const blob = file instanceof Blob ? file : new Blob([file.bytes]);
  let bitmap;
  try {
    // The stored values, not colour-managed or premultiplied ones: the CLI reads them the same way.
    bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch {
    throw new Error('the browser could not decode this picture (a PNG or JPEG was expected)');
  }
  const { width, height } = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d', { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = new Uint8Array(context.getImageData(0, 0, width, height).data.buffer);
  return { rgba, width, height };
}

/** Whether every pixel has R = G = B. */
export function isGrey(rgba) {
  for (let p = 0; p < rgba.length; p += 4) if (rgba[p] !== rgba[p + 1] || rgba[p + 1] !== rgba[p + 2]) return false;
  return true;
}

/** NIfTI-1 bytes (ArrayBuffer, .nii) of a picture: dims [3, width, height, 1]. */
export function pictureNifti({ rgba, width, height }) {
  const grey = isGrey(rgba);
  const channels = grey ? 1 : 3;
  const buffer = new ArrayBuffer(352 + width * height * channels);
  const view = new DataView(buffer);
  view.setInt32(0, 348, true); // sizeof_hdr
  [3, width, height, 1, 1, 1, 1, 1].forEach((d, i) => view.setInt16(40 + 2 * i, d, true));
  view.setInt16(70, grey ? 2 : 128, true); // datatype: uint8 or RGB24
  view.setInt16(72, grey ? 8 : 24, true); // bitpix
  [1, 1, 1, 1, 1, 1, 1, 1].forEach((d, i) => view.setFloat32(76 + 4 * i, d, true)); // pixdim (qfac 1), 1 mm
  view.setFloat32(108, 352, true); // vox_offset
  view.setFloat32(112, 1, true); // scl_slope
  view.setUint8(123, 2); // xyzt_units: mm
  const bytes = new Uint8Array(buffer);
  bytes.set(new TextEncoder().encode('2D picture'), 148); // descrip
  view.setInt16(254, 2, true); // sform_code: aligned
  const srow = [[1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 1, 0]];
  srow.flat().forEach((v, i) => view.setFloat32(280 + 4 * i, v, true));
  bytes.set([0x6e, 0x2b, 0x31, 0], 344); // magic "n+1\0"; bytes 348–351 (no extensions) stay 0
  const data = bytes.subarray(352);
  if (grey) {
    for (let p = 0; p < width * height; p++) data[p] = rgba[4 * p];
  } else {
    for (let p = 0; p < width * height; p++) data.set(rgba.subarray(4 * p, 4 * p + 3), 3 * p);
  }
  return buffer;
}

/** A PNG blob of a mask (values x fastest, width × height): 255 where non-zero, else 0, grey. */
export async function maskPng(values, width, height) {
  if (values.length !== width * height) throw new Error(`the mask has ${values.length} values, not ${width} × ${height}`);
  const image = new ImageData(width, height);
  for (let p = 0; p < values.length; p++) {
    const v = values[p] ? 255 : 0;
    image.data.set([v, v, v, 255], 4 * p);
  }
  const canvas = new OffscreenCanvas(width, height);
  canvas.getContext('2d').putImageData(image, 0, 0);
  return canvas.convertToBlob({ type: 'image/png' });
}
