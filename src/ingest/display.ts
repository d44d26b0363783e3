import type { DeidReport, ImageSourceInfo, SafeImageMeta, WindowInfo } from '../core/types.ts';
import { AppError } from '../errors.ts';
import type { WindowChoice } from './voi.ts';

/**
 * The decoded, windowed 8-bit picture every decoder hands to the fitting step, whatever the input
 * format: the same shape as the DICOM decoder's `DicomDisplayImage` (see src/ingest/dicom).
 */
export interface DisplayImage {
  width: number;
  height: number;
  channels: 1 | 3;
  /** 8-bit display pixels, grey or interleaved RGB. */
  pixels: Uint8Array;
  window: WindowInfo;
  source: ImageSourceInfo;
  meta: SafeImageMeta;
  deid: DeidReport;
}

export type { WindowChoice } from './voi.ts';

export const WINDOW_PRESETS = ['lung', 'mediastinum', 'bone', 'brain', 'soft-tissue'] as const;

/** What the decoding step needs; a subset of PrepareOptions that can cross a worker boundary. */
export interface DecodeOptions {
  frame?: number;
  window?: WindowChoice;
  question?: string;
  maxPixels?: number;
  maxFrames?: number;
}

/** 1-based frame to show: the one asked for, else the middle one (DICOM numbers frames from 1). */
export function pickFrame(frames: number, requested: number | undefined): number {
  if (requested === undefined) return Math.floor(frames / 2) + 1;
  if (!Number.isInteger(requested) || requested < 1 || requested > frames) {
    throw new AppError('USAGE', `frame ${requested} outside 1..${frames}`, {
      userMessage:
        frames === 1
          ? 'This image has a single frame; leave out --frame or use --frame 1.'
          : `This image has ${frames} frames; choose a frame from 1 to ${frames}.`,
      details: { frames },
    });
  }
  return requested;
}

export function checkFrameCap(frames: number, maxFrames: number): void {
  if (frames > maxFrames) {
    throw new AppError('INPUT_TOO_LARGE', `${frames} frames over cap ${maxFrames}`, {
      userMessage: `The file holds ${frames} frames; quickread reads files of up to ${maxFrames} frames. Export the frames you need.`,
      details: { frames, maxFrames },
    });
  }
}
