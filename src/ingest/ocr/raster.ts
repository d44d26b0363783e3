import sharp from 'sharp';

/** Decoded 8-bit pixels, interleaved, as the PNG stored them (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA). */
export interface Raster {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
}

export async function decodePng(png: Uint8Array): Promise<Raster> {
  const { data, info } = await sharp(png).raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  return {
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    width: info.width,
    height: info.height,
    channels: info.channels as Raster['channels'],
  };
}

export async function encodePng(raster: Raster): Promise<Buffer> {
  return sharp(raster.data, {
    raw: { width: raster.width, height: raster.height, channels: raster.channels },
  })
    .png()
    .toBuffer();
}

/** RGB copy of any raster (grey replicated, alpha dropped): the OCR models take three channels. */
export function toRgb(raster: Raster): Raster {
  if (raster.channels === 3) return raster;
  const { width, height, channels, data } = raster;
  const out = new Uint8Array(width * height * 3);
  const colour = channels === 4;
  for (let p = 0, i = 0, o = 0; p < width * height; p += 1, i += channels, o += 3) {
    const r = data[i]!;
    out[o] = r;
    out[o + 1] = colour ? data[i + 1]! : r;
    out[o + 2] = colour ? data[i + 2]! : r;
  }
  return { data: out, width, height, channels: 3 };
}

/** A copy of the pixels inside a rectangle (x1/y1 exclusive). */
export function cropRaster(raster: Raster, rect: { x0: number; y0: number; x1: number; y1: number }): Raster {
  const width = rect.x1 - rect.x0;
  const height = rect.y1 - rect.y0;
  const { channels } = raster;
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y += 1) {
    const from = ((rect.y0 + y) * raster.width + rect.x0) * channels;
    data.set(raster.data.subarray(from, from + width * channels), y * width * channels);
  }
  return { data, width, height, channels };
}

/** Every channel at or below this is black border, not content (lossy codecs leave a little noise). */
const BLACK = 8;

/**
 * The rectangle (x1/y1 exclusive) around everything that is not black in an RGB raster; undefined
 * when the whole image is black. Nothing legible can be drawn where every pixel is black,
 * so the text detector needs to see only this rectangle: the air around a CT or MR slice and the
 * black frame of an ultrasound screen cost it nothing (issue 21).
 */
export function contentBounds(rgb: Raster): { x0: number; y0: number; x1: number; y1: number } | undefined {
  const { width, height, data, channels } = rgb;
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y += 1) {
    const row = y * width * channels;
    let first = -1;
    let last = -1;
    for (let i = row, x = 0; x < width; x += 1, i += channels) {
      if (data[i]! > BLACK || data[i + 1]! > BLACK || data[i + 2]! > BLACK) {
        if (first < 0) first = x;
        last = x;
      }
    }
    if (first < 0) continue;
    if (y < y0) y0 = y;
    y1 = y;
    if (first < x0) x0 = first;
    if (last > x1) x1 = last;
  }
  if (x1 < 0) return undefined;
  return { x0, y0, x1: x1 + 1, y1: y1 + 1 };
}
