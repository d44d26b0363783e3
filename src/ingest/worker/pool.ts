import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { AppError, type AppErrorOptions, type ErrorCode, errorCodes } from '../../errors.ts';

/**
 * A small pool of decode workers (node:worker_threads) so that a 100 MB DICOM or a slow JPEG 2000
 * never blocks the event loop a bot answers Slack and Discord on. Workers are reused (loading sharp
 * and the WASM codecs costs more than most decodes) and a worker that overruns its time cap is
 * terminated: a codec stuck in WASM cannot be interrupted any other way.
 */
/** A task is plain data (structured-cloneable); the worker module gives it meaning. */
export type PoolTask = object;

export interface WireError {
  code: string;
  message: string;
  userMessage: string;
  retryable: boolean;
  details: Record<string, unknown>;
}

export type WorkerReply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: WireError };

export interface DecodePool {
  run<T>(task: PoolTask, timeoutMs: number): Promise<T>;
  /** Workers alive now (started lazily, at most `size`). */
  readonly alive: number;
  close(): Promise<void>;
}

export interface PoolOptions {
  size?: number;
  /** The worker entry (an .mjs bootstrap that registers tsx, then loads the TypeScript worker). */
  entry?: URL;
}

interface Slot {
  worker: Worker;
  job?: Job;
}

interface Job {
  id: number;
  task: PoolTask;
  timeoutMs: number;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  timer?: NodeJS.Timeout;
}

export const defaultPoolSize = (): number => Math.max(1, Math.min(4, availableParallelism()));

export function errorFromWire(error: WireError): AppError {
  const code = (error.code in errorCodes ? error.code : 'INTERNAL') as ErrorCode;
  const options: AppErrorOptions = {
    userMessage: error.userMessage,
    retryable: error.retryable,
    details: error.details,
  };
  return new AppError(code, error.message, options);
}

export function createDecodePool(options: PoolOptions = {}): DecodePool {
  const size = options.size ?? defaultPoolSize();
  const entry = options.entry ?? new URL('./worker.mjs', import.meta.url);
  const slots: Slot[] = [];
  const queue: Job[] = [];
  let nextId = 1;
  let closed = false;

  const retire = (slot: Slot): void => {
    const index = slots.indexOf(slot);
    if (index >= 0) slots.splice(index, 1);
  };

  const finish = (slot: Slot, settle: (job: Job) => void): void => {
    const job = slot.job;
    if (!job) return;
    clearTimeout(job.timer);
    slot.job = undefined;
    // An idle worker must not keep a CLI process alive; a busy one must.
    slot.worker.unref();
    settle(job);
    pump();
  };

  const spawn = (): Slot => {
    const worker = new Worker(entry);
    const slot: Slot = { worker };
    worker.on('message', (reply: WorkerReply) => {
      if (slot.job?.id !== reply.id) return;
      finish(slot, (job) => (reply.ok ? job.resolve(reply.value) : job.reject(errorFromWire(reply.error))));
    });
    const crashed = (why: string) => {
      retire(slot);
      finish(slot, (job) =>
        job.reject(new AppError('INPUT_CORRUPT', `decode worker ${why}`, { details: { worker: why } })),
      );
    };
    worker.on('error', () => crashed('crashed'));
    worker.on('exit', () => crashed('exited'));
    slots.push(slot);
    return slot;
  };

  const pump = (): void => {
    while (queue.length > 0 && !closed) {
      const slot = slots.find((candidate) => !candidate.job) ?? (slots.length < size ? spawn() : undefined);
      if (!slot) return;
      const job = queue.shift()!;
      slot.job = job;
      slot.worker.ref();
      job.timer = setTimeout(() => {
        retire(slot);
        finish(slot, (stuck) =>
          stuck.reject(
            new AppError('DECODE_TIMEOUT', `decode exceeded ${stuck.timeoutMs} ms`, {
              userMessage: `Decoding the image took longer than ${Math.round(stuck.timeoutMs / 1000)} s, so it was stopped. Try a smaller or uncompressed export.`,
              details: { timeoutMs: stuck.timeoutMs },
            }),
          ),
        );
        void slot.worker.terminate();
      }, job.timeoutMs);
      slot.worker.postMessage({ id: job.id, task: job.task });
    }
  };

  return {
    run<T>(task: PoolTask, timeoutMs: number): Promise<T> {
      if (closed) return Promise.reject(new AppError('INTERNAL', 'decode pool closed'));
      return new Promise<T>((resolve, reject) => {
        queue.push({ id: nextId++, task, timeoutMs, resolve: resolve as (value: unknown) => void, reject });
        pump();
      });
    },
    get alive() {
      return slots.length;
    },
    async close() {
      closed = true;
      for (const job of queue.splice(0)) job.reject(new AppError('CANCELLED', 'decode pool closed'));
      await Promise.all(slots.splice(0).map((slot) => slot.worker.terminate()));
    },
  };
}
