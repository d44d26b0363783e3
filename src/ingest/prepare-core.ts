import { createHash } from 'node:crypto';
import type { PreparedImage } from '../core/types.ts';
import { decodeDicom } from './dicom/index.ts';
import type { DecodeOptions, DisplayImage } from './display.ts';
import { encodeFitted } from './prepare-encode.ts';
import { decodeRaster } from './raster/index.ts';
import type { SniffKind } from './sniff.ts';

/** One decode job as it crosses into a worker: plain data only. */
export interface DecodeTask extends DecodeOptions {
  bytes: Uint8Array;
  kind: SniffKind;
  maxSide: number | 'native';
}

export async function decodeDisplay(task: DecodeTask): Promise<DisplayImage> {
  const options: DecodeOptions = {
    frame: task.frame,
    window: task.window,
    question: task.question,
    maxPixels: task.maxPixels,
    maxFrames: task.maxFrames,
  };
  if (task.kind === 'dicom') {
    return decodeDicom(task.bytes, options);
  }
  return decodeRaster(task.bytes, task.kind, options);
}

/** Decode, window, fit and encode: everything between sniffing and the burned-in text scan. */
export async function decodeAndFit(task: DecodeTask): Promise<PreparedImage> {
  const display = await decodeDisplay(task);
  const fitted = await encodeFitted(display, task.maxSide);
  return {
    png: fitted.png,
    width: fitted.width,
    height: fitted.height,
    tokens: fitted.tokens,
    sha256: createHash('sha256').update(fitted.png).digest('hex'),
    meta: display.meta,
    deid: display.deid,
    window: display.window,
    source: display.source,
  };
}
