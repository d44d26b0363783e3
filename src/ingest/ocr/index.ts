import { Worker } from 'node:worker_threads';
import type { BurnedInTextReport, ImageSourceInfo } from '../../core/types.ts';
import { AppError, type ErrorCode, errorCodes } from '../../errors.ts';
import type { ScanRequest, ScanResponse, WarmRequest } from './protocol.ts';
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

/** Stop the OCR worker (shutdown, tests). A later scan starts a new one. */
export async function closeTextScanner(): Promise<void> {
  await pool.close();
}

function toError(error: Extract<ScanResponse, { ok: false }>['error']): AppError {
  const code: ErrorCode = error.code in errorCodes ? (error.code as ErrorCode) : 'INTERNAL';
  return new AppError(code, error.message, {
    ...(error.userMessage === undefined ? {} : { userMessage: error.userMessage }),
    ...(error.details === undefined ? {} : { details: error.details }),
  });
}

interface Pending {
  resolve: (response: ScanResponse) => void;
  reject: (error: AppError) => void;
  timer: NodeJS.Timeout;
  worker: Worker;
}

function createPool() {
  let worker: Worker | undefined;
  let nextId = 1;
  const pending = new Map<number, Pending>();

  const failAll = (owner: Worker, error: AppError): void => {
    for (const [id, entry] of pending) {
      if (entry.worker !== owner) continue;
      clearTimeout(entry.timer);
      pending.delete(id);
      entry.reject(error);
    }
  };

  const start = (): Worker => {
    const created = new Worker(new URL('./worker-entry.mjs', import.meta.url), {
      workerData: { threads: 1 },
      // onnxruntime's graph code recurses deeply; a worker's default stack (~4 MB, shrunk further by a
      // long parent command line) overflowed with a segfault on `prepare` over a few hundred paths.
      resourceLimits: { stackSizeMb: 16 },
    });
    created.on('message', (response: ScanResponse) => {
      const entry = pending.get(response.id);
      if (!entry) return;
      clearTimeout(entry.timer);
      pending.delete(response.id);
      if (![...pending.values()].some((other) => other.worker === created)) created.unref();
      entry.resolve(response);
    });
    created.on('error', (error) => {
      if (worker === created) worker = undefined;
      failAll(created, new AppError('INTERNAL', `OCR worker failed: ${error.message}`, { cause: error }));
    });
    created.on('exit', (code) => {
      if (worker === created) worker = undefined;
      failAll(created, new AppError('INTERNAL', `OCR worker exited with code ${code}`));
    });
    return created;
  };

  let warmed: Worker | undefined;

  return {
    warm(): void {
      if (worker && warmed === worker) return;
      if (!worker) {
        worker = start();
        // Nothing in flight: the warm-up alone must not hold the process open.
        worker.unref();
      }
      warmed = worker;
      worker.postMessage({ warm: true } satisfies WarmRequest);
    },
    run(png: Uint8Array, mode: BurnedInTextMode, timeoutMs: number): Promise<ScanResponse> {
      worker ??= start();
      const current = worker;
      // Keep the process alive only while a scan is in flight; an idle worker must not hold it open.
      current.ref();
      const id = nextId++;
      return new Promise<ScanResponse>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          // The worker may be stuck inside the model: replace it rather than wait.
          if (worker === current) worker = undefined;
          void current.terminate();
          reject(
            new AppError('DECODE_TIMEOUT', `burned-in text scan exceeded ${timeoutMs} ms`, {
              userMessage: 'Checking the image for burned-in text took too long.',
            }),
          );
        }, timeoutMs);
        pending.set(id, { resolve, reject, timer, worker: current });
        const request: ScanRequest = { id, png: new Uint8Array(png), mode };
        current.postMessage(request, [request.png.buffer as ArrayBuffer]);
      });
    },
    async close(): Promise<void> {
      const current = worker;
      worker = undefined;
      if (current) await current.terminate();
    },
  };
}

const pool = createPool();
