import sharp, { type Metadata, type Sharp } from 'sharp';
import type { DeidReport, WindowInfo } from '../../core/types.ts';
import { AppError } from '../../errors.ts';
import { checkFrameCap, type DecodeOptions, type DisplayImage, pickFrame } from '../display.ts';
import { applyWindow, chooseWindow } from '../voi.ts';

export type RasterKind = 'png' | 'jpeg' | 'webp' | 'tiff';

/** sharp's default pixel cap (0x3FFF², ~268 Mpx): a decompression bomb is refused before decoding. */
export const DEFAULT_MAX_PIXELS = 0x3fff * 0x3fff;
export const DEFAULT_MAX_FRAMES = 1000;

/** Map sharp/libvips failures to coded errors; its messages never reach a user. */
function decodeError(error: unknown): AppError {
  const message = error instanceof Error ? error.message : String(error);
  if (/pixel limit/i.test(message)) {
    return new AppError('INPUT_TOO_LARGE', 'raster over pixel limit', {
      cause: error,
      userMessage: 'The image has more pixels than quickread accepts (about 268 megapixels).',
    });
  }
  return new AppError('INPUT_CORRUPT', `raster decode failed: ${message}`, { cause: error });
}

/** Metadata blocks present in the file that are dropped (sharp copies none unless asked to). */
function droppedBlocks(meta: Metadata): number {
  const blocks = [meta.exif, meta.icc, meta.iptc, meta.xmp, meta.tifftagPhotoshop].filter(Boolean).length;
  return blocks + (meta.comments?.length ?? 0);
}

const EIGHT_BIT_AS_STORED: WindowInfo = {
  center: 127.5,
  width: 256,
  source: 'none',
  reason: '8-bit image shown as stored',
};

/** True when every pixel of an RGB buffer has R = G = B: a grey radiograph saved as colour. */
function isGreyRgb(pixels: Uint8Array): boolean {
  for (let i = 0; i < pixels.length; i += 3) {
    if (pixels[i] !== pixels[i + 1] || pixels[i] !== pixels[i + 2]) return false;
  }
  return true;
}

function toGrey(pixels: Uint8Array): Uint8Array {
  const out = new Uint8Array(pixels.length / 3);
  for (let i = 0; i < out.length; i += 1) out[i] = pixels[i * 3]!;
  return out;
}

/**
 * Decode a PNG, JPEG, WebP or TIFF into display pixels. EXIF orientation is applied (`rotate()`),
 * alpha is flattened onto black, metadata is never copied, and 16-bit greyscale stays 16-bit until the
 * VOI step (a percentile window unless one is asked for), so no detail is lost to an early cast.
 */
export async function decodeRaster(
  bytes: Uint8Array,
  kind: RasterKind,
  options: DecodeOptions = {},
): Promise<DisplayImage> {
  const limitInputPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels }).metadata();
  } catch (error) {
    throw decodeError(error);
  }
  const frames = meta.pages ?? 1;
  checkFrameCap(frames, options.maxFrames ?? DEFAULT_MAX_FRAMES);
  const frameIndex = pickFrame(frames, options.frame);
  const open = (): Sharp =>
    sharp(bytes, { limitInputPixels, page: frameIndex - 1, pages: 1 })
      .rotate()
      .flatten({ background: { r: 0, g: 0, b: 0 } });

  const colourChannels = (meta.channels ?? 3) - (meta.hasAlpha ? 1 : 0);
  const grey = colourChannels === 1;
  const deep = meta.depth === 'ushort' || meta.depth === 'short';
  const deid: DeidReport = {
    removedTags: droppedBlocks(meta),
    // Pixels of a photo or screenshot may carry text (names, dates): the OCR step decides.
    burnedInAnnotation: true,
    identityPresent: false,
  };
  try {
    let width: number;
    let height: number;
    let channels: 1 | 3;
    let pixels: Uint8Array;
    let window = EIGHT_BIT_AS_STORED;
    if (grey && deep) {
      const { data, info } = await open()
        .toColourspace('grey16')
        .raw({ depth: 'ushort' })
        .toBuffer({ resolveWithObject: true });
      const values = new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);
      // Raster values are not Hounsfield units: a named CT preset would be meaningless, so only an
      // explicit C,W is honoured; otherwise a percentile window.
      const choice = typeof options.window === 'object' ? options.window : 'auto';
      window = chooseWindow(values, { choice });
      pixels = applyWindow(values, window, false);
      ({ width, height } = info);
      channels = 1;
    } else {
      const pipeline = grey ? open().toColourspace('b-w') : open().toColourspace('srgb');
      const { data, info } = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
      ({ width, height } = info);
      channels = info.channels === 1 ? 1 : 3;
      pixels = data;
      if (channels === 3 && isGreyRgb(pixels)) {
        pixels = toGrey(pixels);
        channels = 1;
      }
      const choice = options.window;
      if (channels === 1 && typeof choice === 'object') {
        // An explicit C,W is honoured on 8-bit grey; named presets need Hounsfield units, which a
        // raster image does not carry, so those fall back to the stored values.
        window = chooseWindow(pixels, { choice });
        pixels = applyWindow(pixels, window, false);
      }
    }
    return {
      width,
      height,
      channels,
      pixels,
      window,
      meta: {},
      deid,
      source: {
        kind,
        rows: height,
        columns: width,
        frames,
        frameIndex,
        photometric: channels === 1 ? 'MONOCHROME2' : 'RGB',
      },
    };
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw decodeError(error);
  }
}
