import { createHash } from 'node:crypto';
import type { PreparedImage } from '../core/types.ts';

/**
 * Shrink an already prepared PNG to a smaller longest side (the engine's out-of-memory ladder). It is
 * never enlarged: a request larger than the PNG returns it re-snapped at its own size. sharp is loaded
 * on first use so that importing the engine stays cheap (the CLI's main thread never decodes); this
 * lives apart from fit.ts, which prepare-encode.ts imports, so the two do not import each other.
 */
export async function fitPng(
  png: Buffer,
  maxSide: number,
): Promise<{ png: Buffer; width: number; height: number; tokens: number }> {
  const { refitPng } = await import('./prepare-encode.ts');
  return refitPng(png, maxSide);
}

/**
 * A prepared image re-fitted to a smaller longest side, its size, tokens and hash following the new PNG
 * (a study's shared budget and its out-of-memory ladder); one already that small is returned as it is.
 */
export async function shrinkPrepared<T extends PreparedImage>(image: T, side: number): Promise<T> {
  if (Math.max(image.width, image.height) <= side) return image;
  const fitted = await fitPng(image.png, side);
  return {
    ...image,
    png: fitted.png,
    width: fitted.width,
    height: fitted.height,
    tokens: fitted.tokens,
    sha256: createHash('sha256').update(fitted.png).digest('hex'),
  };
}
