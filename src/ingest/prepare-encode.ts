import sharp from 'sharp';
import { AppError } from '../errors.ts';
import { fitDimensions } from './fit.ts';

/**
 * Encoding the fitted PNG: sharp resizes and writes it; no metadata travels with it. zlib level 1
 * with no row filters: the PNG is read once (by the engine, the OCR worker, a chat preview), so
 * encode time matters more than bytes. Measured on 512² CT slices (bench/ingest): level 1 encodes in
 * ~2/3 of level 3's time for ~25 % more bytes (about 190 kB instead of 150 kB); lossless either way.
 */
export const PNG_OPTIONS = { compressionLevel: 1, adaptiveFiltering: false } as const;

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

/** fitPng's body (see src/ingest/fit.ts). */
export async function refitPng(
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
