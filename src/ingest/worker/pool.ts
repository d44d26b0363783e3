import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { AppError, type AppErrorOptions, type ErrorCode, errorCodes, toAppError } from '../../errors.ts';

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
  | { id: number; ok: false; error: WireError }
  /** Sent once when the worker has loaded its modules and listens. */
  | { ready: true };

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
  /**
   * Also decode on the calling thread whenever no started worker is free: for the CLI, whose event
   * loop serves nothing else, a small batch then never waits ~0.4 s for a worker to load tsx, sharp
   * and the codecs. Such a decode cannot be interrupted; its time cap only rejects its promise. The
   * bot never sets this.
   */
  inline?: (task: PoolTask) => Promise<unknown>;
  /**
   * Inline decodes allowed at once (default 1). Two let this thread decode the next file while sharp
   * encodes the last one on libuv's threads: the encode is asynchronous, so with one the thread idles.
   */
  inlineConcurrency?: number;
}

interface Slot {
  worker: Worker;
  job?: Job;
  ready: boolean;
}

interface Job {
  id: number;
  task: PoolTask;
  timeoutMs: number;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  timer?: NodeJS.Timeout;
}

function timeoutError(timeoutMs: number): AppError {
  return new AppError('DECODE_TIMEOUT', `decode exceeded ${timeoutMs} ms`, {
    userMessage: `Decoding the image took longer than ${Math.round(timeoutMs / 1000)} s, so it was stopped. Try a smaller or uncompressed export.`,
    details: { timeoutMs },
  });
}

const INLINE_GRACE_MS = 250;

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
  let inlineRunning = 0;
  const inlineLimit = Math.max(1, options.inlineConcurrency ?? 1);
  let backlogSince: number | undefined;

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
    const slot: Slot = { worker, ready: false };
    worker.unref();
    worker.on('message', (reply: WorkerReply) => {
      if ('ready' in reply) {
        slot.ready = true;
        pump();
        return;
      }
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

  /** A decode on this thread (see PoolOptions.inline); its time cap can only reject, not stop it. */
  const runInline = (job: Job, inline: NonNullable<PoolOptions['inline']>): void => {
    inlineRunning += 1;
    let settled = false;
    const settle = (done: () => void) => {
      if (!settled) {
        settled = true;
        clearTimeout(job.timer);
        done();
      }
    };
    job.timer = setTimeout(() => settle(() => job.reject(timeoutError(job.timeoutMs))), job.timeoutMs);
    Promise.resolve()
      .then(() => inline(job.task))
      .then(
        (value) => settle(() => job.resolve(value)),
        (error: unknown) => settle(() => job.reject(toAppError(error, 'INPUT_CORRUPT'))),
      )
      .finally(() => {
        inlineRunning -= 1;
        pump();
      });
  };

  const dispatch = (slot: Slot, job: Job): void => {
    slot.job = job;
    slot.worker.ref();
    job.timer = setTimeout(() => {
      retire(slot);
      finish(slot, (stuck) => stuck.reject(timeoutError(stuck.timeoutMs)));
      void slot.worker.terminate();
    }, job.timeoutMs);
    slot.worker.postMessage({ id: job.id, task: job.task });
  };

  const pump = (): void => {
    const { inline } = options;
    while (queue.length > 0 && !closed) {
      // With an inline lane, only started workers take work: a job never waits on a worker's start-up
      // while this thread could run it. Without one, a starting worker buffers its first message.
      const free = slots.find((slot) => !slot.job && (slot.ready || !inline));
      if (free) {
        dispatch(free, queue.shift()!);
        continue;
      }
      if (inline && inlineRunning < inlineLimit) {
        runInline(queue.shift()!, inline);
        continue;
      }
      const starting = slots.some((slot) => !slot.ready);
      if (slots.length < size && !(inline && starting)) {
        if (inline && !backlogLongEnough()) return;
        const fresh = spawn();
        if (!inline) dispatch(fresh, queue.shift()!);
        continue;
      }
      return;
    }
    if (queue.length === 0) backlogSince = undefined;
  };

  /**
   * With an inline lane a worker is started only once work has waited INLINE_GRACE_MS: a batch this
   * thread clears quickly (a few CT slices) never pays a worker's start-up CPU.
   */
  const backlogLongEnough = (): boolean => {
    const now = performance.now();
    if (backlogSince === undefined) {
      backlogSince = now;
      setTimeout(pump, INLINE_GRACE_MS).unref();
    }
    return now - backlogSince >= INLINE_GRACE_MS;
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
