import type { BurnedInTextReport, ImageSourceInfo } from '../../core/types.ts';
import { AppError, type ErrorCode, errorCodes } from '../../errors.ts';
import { createScanPool } from './pool.ts';
import type { ScanResponse } from './protocol.ts';
import type { BurnedInTextMode } from './scan.ts';

export type { BurnedInTextMode } from './scan.ts';

export interface ScanBurnedInTextOptions {
  mode: BurnedInTextMode;
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
  const response = await pool.run(png, options.mode, options.timeoutMs ?? 30_000);
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
 * How many OCR workers may run at once (default 1: the bot shares its machine with the decoder and
 * the event loop). `quickread prepare` raises it for a batch, where the text scan is the slow step and
 * nothing else needs the cores. Each worker holds its own copy of the models (about 100 MB).
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
