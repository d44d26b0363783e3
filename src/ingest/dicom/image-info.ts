/** The Image Pixel module (PS3.3 C.7.6.3) read and checked before any pixel is touched. */
import type { DataSet } from 'dicom-parser';
import { AppError } from '../../errors.js';

export interface ImageInfo {
  rows: number;
  columns: number;
  frames: number;
  samplesPerPixel: 1 | 3;
  bitsAllocated: number;
  bitsStored: number;
  /** Pixel Representation 1: two's complement. */
  signed: boolean;
  photometric: string;
  /** Planar Configuration 1: all of R, then all of G, then all of B (C.7.6.3.1.3). */
  planar: boolean;
  /** Float Pixel Data (7FE0,0008) or Double Float Pixel Data (7FE0,0009). */
  float: boolean;
  pixelTag: 'x7fe00010' | 'x7fe00008' | 'x7fe00009';
}

export interface Caps {
  maxPixels: number;
  maxFrames: number;
}

function corrupt(message: string, userMessage: string): AppError {
  return new AppError('INPUT_CORRUPT', message, { userMessage });
}

export function readImageInfo(ds: DataSet, caps: Caps): ImageInfo {
  const pixelTag = ds.elements.x7fe00008 ? 'x7fe00008' : ds.elements.x7fe00009 ? 'x7fe00009' : 'x7fe00010';
  const rows = ds.uint16('x00280010');
  const columns = ds.uint16('x00280011');
  const bitsAllocated =
    ds.uint16('x00280100') ?? (pixelTag === 'x7fe00009' ? 64 : pixelTag === 'x7fe00008' ? 32 : undefined);
  const spp = ds.uint16('x00280002') ?? 1;
  if (!rows || !columns || !bitsAllocated) {
    throw corrupt(
      'image pixel module incomplete (rows/columns/bits allocated missing)',
      'The DICOM file has pixel data but not the attributes needed to read it (rows, columns, bit depth).',
    );
  }
  if (spp !== 1 && spp !== 3) {
    throw new AppError('INPUT_UNSUPPORTED', `samples per pixel ${spp}`, {
      userMessage: `This DICOM image has ${spp} samples per pixel; only greyscale and colour (3) images are supported.`,
    });
  }
  if (![8, 16, 32, 64].includes(bitsAllocated)) {
    throw new AppError('INPUT_UNSUPPORTED', `bits allocated ${bitsAllocated}`, {
      userMessage: `This DICOM image stores ${bitsAllocated}-bit pixels, which quickread does not read.`,
    });
  }
  const bitsStored = Math.min(ds.uint16('x00280101') ?? bitsAllocated, bitsAllocated) || bitsAllocated;
  const frames = readFrameCount(ds);
  if (rows * columns > caps.maxPixels) {
    throw new AppError('INPUT_TOO_LARGE', `image ${columns}x${rows} over pixel cap`, {
      userMessage: `The image is ${columns}×${rows} pixels, more than quickread decodes (${caps.maxPixels.toLocaleString('en')} pixels).`,
    });
  }
  if (frames > caps.maxFrames) {
    throw new AppError('INPUT_TOO_LARGE', `${frames} frames over frame cap`, {
      userMessage: `The file has ${frames} frames, more than quickread accepts (${caps.maxFrames}).`,
    });
  }
  const photometric = (ds.string('x00280004') ?? (spp === 3 ? 'RGB' : 'MONOCHROME2'))
    .replace(/\0/g, '')
    .trim()
    .toUpperCase();
  return {
    rows,
    columns,
    frames,
    samplesPerPixel: spp,
    bitsAllocated,
    bitsStored,
    signed: ds.uint16('x00280103') === 1,
    photometric,
    planar: spp === 3 && ds.uint16('x00280006') === 1,
    float: pixelTag !== 'x7fe00010',
    pixelTag,
  };
}

/** Number of Frames is an IS (PS3.5 6.2): digits only; "1A" is a damaged header, not one frame. */
function readFrameCount(ds: DataSet): number {
  const el = ds.elements.x00280008;
  if (!el || el.length === 0) return 1;
  const raw = (ds.string('x00280008') ?? '').replace(/\0/g, '').trim();
  if (raw === '') return 1;
  if (!/^[+]?\d+$/.test(raw)) {
    throw corrupt(
      'Number of Frames is not an integer string',
      'The DICOM header is damaged: its Number of Frames is not a number.',
    );
  }
  const n = Number.parseInt(raw, 10);
  if (n < 1) throw corrupt('Number of Frames < 1', 'The DICOM header says the file has no frames.');
  return n;
}
