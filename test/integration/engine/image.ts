import { createHash } from 'node:crypto';
import sharp from 'sharp';
import type { PreparedImage, SafeImageMeta } from '../../../src/core/types.ts';

/** A synthetic greyscale "scan": a gradient with a bright disc, so it is not blank. */
export async function syntheticPng(width: number, height: number, blank = false): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inDisc = (x - width * 0.3) ** 2 + (y - height * 0.3) ** 2 < (Math.min(width, height) * 0.08) ** 2;
      pixels[y * width + x] = blank ? 90 : inDisc ? 230 : Math.round((x / width) * 120 + 20);
    }
  }
  return sharp(pixels, { raw: { width, height, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
}

export async function preparedImage(
  width: number,
  height: number,
  options: { meta?: SafeImageMeta; blank?: boolean } = {},
): Promise<PreparedImage> {
  const png = await syntheticPng(width, height, options.blank);
  return {
    png,
    width,
    height,
    tokens: Math.ceil(width / 32) * Math.ceil(height / 32),
    sha256: createHash('sha256').update(png).digest('hex'),
    meta: options.meta ?? { modality: 'CT', bodyPart: 'CHEST', pixelSpacingMm: [0.7, 0.7] },
    deid: { removedTags: 0, burnedInAnnotation: false, identityPresent: false },
    window: { center: -600, width: 1500, source: 'preset', preset: 'lung', reason: 'test' },
    source: { kind: 'png', rows: height, columns: width, frames: 1, frameIndex: 1 },
  };
}
