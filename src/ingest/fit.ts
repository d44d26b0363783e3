import sharp from 'sharp';
import { AppError } from '../errors.ts';

/**
 * The pixel budget of Qwen3-VL: the vision encoder cuts 16-px patches and merges them 2×2, so one
 * visual token covers 32×32 px and both sides must be multiples of 32 (Qwen's `smart_resize`
 * uses factor = patch_size · merge_size = 32 and refuses aspect ratios over 200).
 */
export const TOKEN_PX = 32;
export const MAX_ASPECT = 200;

/** Visual tokens for an image of this size; a side that is not a multiple of 32 counts as the model's processor rounds it. */
export function tokensFor(width: number, height: number): number {
  const cells = (side: number) => Math.max(1, Math.round(side / TOKEN_PX));
  return cells(width) * cells(height);
}

export function checkAspect(width: number, height: number): void {
  const ratio = Math.max(width, height) / Math.max(1, Math.min(width, height));
  if (ratio > MAX_ASPECT) {
    throw new AppError('INPUT_ASPECT', `aspect ratio ${ratio.toFixed(0)}:1 over ${MAX_ASPECT}:1`, {
      details: { width, height },
    });
  }
}

/**
 * Target size: longest side ≤ maxSide, never upscaled, both sides floored to a multiple of 32 (flooring
 * keeps the "never larger than the source" promise; a side under 32 px becomes the one-token minimum).
 * 'native' keeps the size exactly and only reports what it will cost.
 */
export function fitDimensions(
  width: number,
  height: number,
  maxSide: number | 'native',
): { width: number; height: number; tokens: number } {
  if (!(width > 0 && height > 0)) {
    throw new AppError('INPUT_CORRUPT', `image has no pixels (${width}x${height})`);
  }
  checkAspect(width, height);
  if (maxSide === 'native') return { width, height, tokens: tokensFor(width, height) };
  if (!Number.isFinite(maxSide) || maxSide < TOKEN_PX) {
    throw new AppError('USAGE', `maxSide ${maxSide} below ${TOKEN_PX}`, {
      userMessage: `The image size must be at least ${TOKEN_PX} pixels, or "native".`,
    });
  }
  const longest = Math.max(width, height);
  const target = Math.min(maxSide, longest);
  // Scale in integers first so the longest side lands exactly on the budget (no 1023.9999 → 992).
  const scaled = (side: number) => (side === longest ? target : (side * target) / longest);
  const snap = (side: number) => Math.max(TOKEN_PX, Math.floor(scaled(side) / TOKEN_PX) * TOKEN_PX);
  const out = { width: snap(width), height: snap(height) };
  return { ...out, tokens: (out.width / TOKEN_PX) * (out.height / TOKEN_PX) };
}

/** PNG settings: fast zlib level (the PNG is sent once over loopback), no metadata chunks written. */
export const PNG_OPTIONS = { compressionLevel: 3, adaptiveFiltering: false } as const;

export interface RawImage {
  width: number;
  height: number;
  channels: 1 | 3;
  pixels: Uint8Array;
}

/** Resize 8-bit grey or RGB pixels to the fitted size and encode a metadata-free PNG. */
export async function encodeFitted(
  image: RawImage,
  maxSide: number | 'native',
): Promise<{ png: Buffer; width: number; height: number; tokens: number }> {
  const target = fitDimensions(image.width, image.height, maxSide);
  let pipeline = sharp(image.pixels, {
    raw: { width: image.width, height: image.height, channels: image.channels },
  });
  if (target.width !== image.width || target.height !== image.height) {
    // fit 'fill': the 32-px snap may change the aspect by a few per cent; cropping would lose anatomy.
    pipeline = pipeline.resize(target.width, target.height, { fit: 'fill', kernel: 'lanczos3' });
  }
  if (image.channels === 1) pipeline = pipeline.toColourspace('b-w');
  const png = stripPngChunks(await pipeline.png(PNG_OPTIONS).toBuffer());
  return { png, ...target };
}

/**
 * Shrink an already prepared PNG to a smaller longest side (the engine's out-of-memory ladder). It is
 * never enlarged: a request larger than the PNG returns it re-snapped at its own size.
 */
export async function fitPng(
  png: Buffer,
  maxSide: number,
): Promise<{ png: Buffer; width: number; height: number; tokens: number }> {
  const meta = await sharp(png).metadata();
  const grey = (meta.channels ?? 3) - (meta.hasAlpha ? 1 : 0) === 1;
  // sharp turns raw output into sRGB unless told the image is single-channel.
  const decoded = grey ? sharp(png).toColourspace('b-w') : sharp(png).removeAlpha().toColourspace('srgb');
  const { data, info } = await decoded.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  const channels = grey ? 1 : 3;
  if (info.channels !== channels) {
    throw new AppError('INTERNAL', `fitPng got ${info.channels} channels`);
  }
  return encodeFitted({ width: info.width, height: info.height, channels, pixels: data }, maxSide);
}

/** The chunks a plain 8-bit grey or RGB PNG needs (PNG spec §11.2); everything else is dropped. */
const CRITICAL_CHUNKS = new Set(['IHDR', 'PLTE', 'IDAT', 'IEND']);

/**
 * Keep only critical chunks. libvips writes a pHYs (density) chunk even with metadata off; nothing
 * ancillary (text, time, EXIF, ICC, density) should travel with an image sent to a GPU or a chat.
 * Each chunk carries its own CRC, so dropping whole chunks keeps the file valid.
 */
export function stripPngChunks(png: Buffer): Buffer {
  const keep: Buffer[] = [png.subarray(0, 8)];
  for (let offset = 8; offset + 12 <= png.length; ) {
    const length = png.readUInt32BE(offset);
    const end = offset + 12 + length;
    if (CRITICAL_CHUNKS.has(png.toString('latin1', offset + 4, offset + 8))) {
      keep.push(png.subarray(offset, end));
    }
    offset = end;
  }
  return Buffer.concat(keep);
}
