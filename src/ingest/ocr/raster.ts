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
