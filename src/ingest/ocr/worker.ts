import { parentPort, workerData } from 'node:worker_threads';
import { isAppError } from '../../errors.ts';
import type { ScanRequest, ScanResponse, WorkerRequest } from './protocol.ts';
import { createTextScanner } from './scan.ts';

/**
 * The OCR worker: loads the models once, then scans one image at a time. Recognised text never
 * leaves this thread; replies carry counts and, when pixels changed, the redacted PNG.
 */
const port = parentPort;
if (!port) throw new Error('the OCR worker must run in a worker thread');

const scanner = createTextScanner({ threads: (workerData as { threads?: number } | undefined)?.threads });
let queue: Promise<void> = Promise.resolve();

port.on('message', (request: WorkerRequest) => {
  if ('warm' in request) scanner.warm();
  else queue = queue.then(() => handle(request));
});

async function handle(request: ScanRequest): Promise<void> {
  let response: ScanResponse;
  const transfer: ArrayBuffer[] = [];
  try {
    const result = await scanner.scan(request.png, request.mode, request.depth);
    response = { id: request.id, ok: true, report: result.report, found: result.found };
    if (result.report.redacted > 0) {
      const png = new Uint8Array(result.png);
      response.png = png;
      transfer.push(png.buffer);
    }
  } catch (error) {
    response = isAppError(error)
      ? {
          id: request.id,
          ok: false,
          error: {
            code: error.code,
            message: error.message,
            userMessage: error.userMessage,
            details: error.details,
          },
        }
      : {
          id: request.id,
          ok: false,
          error: { code: 'INTERNAL', message: `OCR failed: ${(error as Error)?.message ?? 'unknown'}` },
        };
  }
  port!.postMessage(response, transfer);
}
