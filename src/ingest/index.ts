import type { PreparedImage } from '../core/types.ts';
import { AppError, isAppError } from '../errors.ts';
import type { WindowChoice } from './display.ts';
import { htmlInputError, type InputSource } from './input-source.ts';
import { closeTextScanner, shouldScanForText, warmTextScanner } from './ocr/index.ts';
import { type BurnedInTextMode, scanForBurnedInText } from './prepare-burned-in.ts';
import type { DecodeTask } from './prepare-core.ts';
import { sniff } from './sniff.ts';
import { createDecodePool, type DecodePool, defaultPoolSize } from './worker/pool.ts';

/**
 * Ingest (DESIGN §1, §3): bytes in, a faithful, de-identified, token-budgeted PNG out. Sniffing and
 * the caps run here; decoding, windowing and fitting run in a worker thread.
 */
export type { WindowChoice } from './display.ts';
export { WINDOW_PRESETS } from './display.ts';
export { fitDimensions, tokensFor } from './fit.ts';
export { fitPng } from './fit-png.ts';
export type { InputSource } from './input-source.ts';
export { type SniffKind, type SniffResult, sniff } from './sniff.ts';

export interface PrepareOptions {
  /** Longest side in pixels (default MAX_IMAGE_SIZE, 1024); 'native' = no resizing at all. */
  maxSide?: number | 'native';
  /** Default 'auto': dataset window → VOI LUT → preset named in the question → percentile. */
  window?: WindowChoice;
  /** 1-based; default the middle frame. */
  frame?: number;
  /** Used only to pick a window preset; never logged. */
  question?: string;
  /** Byte cap (default 100 MiB). */
  maxBytes?: number;
  /** Decode time cap (default 20 s). */
  timeoutMs?: number;
  /** Pixel cap per frame (defaults: raster ≈268 Mpx, sharp's own; DICOM per src/ingest/dicom). */
  maxPixels?: number;
  /** Frame cap (defaults: raster 1000; DICOM per src/ingest/dicom). */
  maxFrames?: number;
  /** Where the bytes came from, so a refusal can say so (a web page from Slack is a missing scope). */
  source?: InputSource;
  /** What to do with text found in the pixels (default 'redact'). */
  burnedInText?: BurnedInTextMode;
  /**
   * false skips the burned-in text step altogether. Only bench/ingest sets it, to time ingest alone
   * against a peer that has no text scan (issue 3); no command, setting or adapter can.
   */
  scanForText?: boolean;
}

export const DEFAULT_MAX_SIDE = 1024;
export const DEFAULT_MAX_BYTES = 100 * 1024 * 1024;
export const DEFAULT_TIMEOUT_MS = 20_000;

let sharedPool: DecodePool | undefined;

/** How many decodes run at once in the shared pool. */
export const defaultConcurrency = (): number => defaultPoolSize();

/** The process-wide decode pool (lazily started; idle workers do not keep the process alive). */
export function decodePool(): DecodePool {
  sharedPool ??= createDecodePool();
  return sharedPool;
}

/** Stop the shared pool's workers (tests, shutdown). A later prepareImage starts a new pool. */
export async function closeDecodePool(): Promise<void> {
  const pool = sharedPool;
  sharedPool = undefined;
  await pool?.close();
}

/** Stop every ingest worker: decoders and the text scanner (CLI exit, bot shutdown). */
export async function closeIngestWorkers(): Promise<void> {
  await Promise.all([closeDecodePool(), closeTextScanner()]);
}

function sniffFrom(bytes: Uint8Array, source: InputSource | undefined) {
  try {
    return sniff(bytes);
  } catch (error) {
    throw isAppError(error, 'INPUT_HTML') ? htmlInputError(source) : error;
  }
}

export async function prepareImage(
  bytes: Uint8Array,
  options: PrepareOptions = {},
  pool: DecodePool = decodePool(),
): Promise<PreparedImage> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  if (bytes.byteLength > maxBytes) {
    throw new AppError('INPUT_TOO_LARGE', `input ${bytes.byteLength} bytes over cap ${maxBytes}`, {
      userMessage: `The file is ${mib(bytes.byteLength)} MB; quickread accepts files up to ${mib(maxBytes)} MB.`,
      details: { bytes: bytes.byteLength, maxBytes },
    });
  }
  const { kind } = sniffFrom(bytes, options.source);
  const task: DecodeTask = {
    bytes,
    kind,
    maxSide: options.maxSide ?? DEFAULT_MAX_SIDE,
    window: options.window,
    frame: options.frame,
    question: options.question,
    maxPixels: options.maxPixels,
    maxFrames: options.maxFrames,
  };
  const mode = options.burnedInText ?? 'redact';
  // Raster images are always scanned and DICOM is unless the mode is `flag` (then only flagged ones, known
  // after decoding): load the OCR models on their own thread while this image decodes.
  const scan = options.scanForText !== false;
  if (scan && shouldScanForText({ kind, burnedInAnnotation: false, mode })) warmTextScanner();
  const image = await pool.run<PreparedImage>(task, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  // Structured clone turns the worker's Buffer into a plain Uint8Array.
  const png = Buffer.from(image.png.buffer, image.png.byteOffset, image.png.byteLength);
  if (!scan) return { ...image, png };
  return scanForBurnedInText({ ...image, png }, mode);
}

const mib = (bytes: number): string => (bytes / (1024 * 1024)).toFixed(bytes < 10 * 1024 * 1024 ? 1 : 0);
