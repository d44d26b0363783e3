import type { BurnedInTextReport, ImageSourceInfo } from '../../core/types.ts';
import { AppError, type ErrorCode, errorCodes } from '../../errors.ts';
import { createScanPool } from './pool.ts';
import type { ScanResponse } from './protocol.ts';
import type { BurnedInTextMode, ScanDepth } from './scan.ts';

export type { BurnedInTextMode, ScanDepth } from './scan.ts';

export interface ScanBurnedInTextOptions {
  mode: BurnedInTextMode;
  /** Default 'full'; pick with scanDepth. */
  depth?: ScanDepth;
  /** Cap on one scan, model loading included (default 30 s). */
  timeoutMs?: number;
}

export interface BurnedInTextScan {
  /** The image to send on: the input itself unless text was blacked out. */
  png: Buffer;
  report: BurnedInTextReport;
  /** Text other than laterality/position markers is (or, redacted, was) in the pixels. */
  found: boolean;
}

/**
 * When the pipeline must look for text in the pixels (issue 9): always for raster images and for
 * DICOM that ingest flagged (BurnedInAnnotation YES, ultrasound, secondary capture — PS3.3 C.7.6.1.1.5
 * and PS3.15 E.1.1: header de-identification cannot reach pixel text); for other DICOM (CT, MR…)
 * unless the operator chose `flag`, where an unscanned clean modality costs nothing to trust.
 */
export function shouldScanForText(input: {
  kind: ImageSourceInfo['kind'];
  burnedInAnnotation: boolean;
  mode: BurnedInTextMode;
}): boolean {
  if (input.kind !== 'dicom' || input.burnedInAnnotation) return true;
  return input.mode !== 'flag';
}

/** Modalities whose images come from the scanner's reconstruction, not from a screen (see scanDepth). */
const RECONSTRUCTED = new Set(['CT', 'MR']);

/**
 * How thoroughly to scan an image that is scanned at all (issue 21). `fast` (a detector-only pass at
 * reduced scale, escalating to the full scan when it sees anything line-like) only for CT and MR
 * slices that ingest did not flag: their pixels are reconstructions of measured data; annotations
 * are drawn by viewers or kept in overlay planes (PS3.3 C.9) and only reach the pixels in secondary
 * captures, which are flagged. Evidence: on the corpus, the full scan finds no text in any of the 19
 * CT/MR files (64–1024 px: only the body outline, or nothing), while it finds text on every
 * ultrasound, secondary capture and `OT` screen that shows some. Everything else gets the full scan:
 * BurnedInAnnotation YES, US, SC, raster images, and every DICOM whose header leaves it unknown
 * (CR, DX, MG, XA, NM, PT, OT… — radiographs carry initials and captions: the SIIM chest film).
 */
export function scanDepth(input: {
  kind: ImageSourceInfo['kind'];
  modality?: string | undefined;
  burnedInAnnotation: boolean;
}): ScanDepth {
  const reconstructed = input.kind === 'dicom' && RECONSTRUCTED.has(input.modality?.toUpperCase() ?? '');
  return reconstructed && !input.burnedInAnnotation ? 'fast' : 'full';
}

/**
 * Find text burned into an 8-bit PNG and act on it: `redact` blacks out every text box except
 * laterality/position markers, `flag` leaves pixels alone and reports, `refuse` throws
 * BURNED_IN_TEXT. Runs in a worker thread (models load once, lazily); the recognised text never
 * leaves that worker.
 */
export async function scanBurnedInText(
  png: Buffer,
  options: ScanBurnedInTextOptions,
): Promise<BurnedInTextScan> {
  const response = await pool.run(png, options.mode, options.timeoutMs ?? 30_000, options.depth);
  if (!response.ok) throw toError(response.error);
  const out = response.png
    ? Buffer.from(response.png.buffer, response.png.byteOffset, response.png.byteLength)
    : png;
  return { png: out, report: response.report, found: response.found };
}

/**
 * Start the OCR worker and its model loading now, on another thread, so that it overlaps the decode
 * of an image that will be scanned (the models take longer to load than most decodes take). An idle
 * warm worker does not keep the process alive.
 */
export function warmTextScanner(): void {
  pool.warm();
}

/** Stop the OCR workers (shutdown, tests). A later scan starts a new one. */
export async function closeTextScanner(): Promise<void> {
  await pool.close();
}

/**
 * How many OCR workers stay started once started (default 1: the bot is mostly idle, and each worker
 * holds its own copy of the models, about 100 MB). Under a backlog the pool grows to the cores (at
 * most 4) whatever this says, and shrinks back when idle; `quickread prepare` raises it for a batch so
 * that its workers do not stop and reload their models between two files.
 */
export function setTextScannerWorkers(count: number): void {
  pool.resize(count);
}

function toError(error: Extract<ScanResponse, { ok: false }>['error']): AppError {
  const code: ErrorCode = error.code in errorCodes ? (error.code as ErrorCode) : 'INTERNAL';
  return new AppError(code, error.message, {
    ...(error.userMessage === undefined ? {} : { userMessage: error.userMessage }),
    ...(error.details === undefined ? {} : { details: error.details }),
  });
}

const pool = createScanPool();
