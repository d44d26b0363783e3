import { parentPort } from 'node:worker_threads';
import { toAppError } from '../../errors.ts';
import { type DecodeTask, decodeAndFit } from '../prepare-core.ts';
import type { WorkerReply } from './pool.ts';

/** The decode worker: one task at a time, from bytes to a fitted, de-identified PNG. */
const port = parentPort;
if (!port) throw new Error('src/ingest/worker/main.ts must run in a worker thread');

port.on('message', async (message: { id: number; task: DecodeTask }) => {
  let reply: WorkerReply;
  try {
    reply = { id: message.id, ok: true, value: await decodeAndFit(message.task) };
  } catch (error) {
    const appError = toAppError(error, 'INPUT_CORRUPT');
    reply = {
      id: message.id,
      ok: false,
      error: {
        code: appError.code,
        message: appError.message,
        userMessage: appError.userMessage,
        retryable: appError.retryable,
        details: appError.details,
      },
    };
  }
  port.postMessage(reply);
});

// Modules are loaded: tell the pool this worker can take work without a start-up wait.
port.postMessage({ ready: true } satisfies WorkerReply);
