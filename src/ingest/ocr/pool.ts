import { Worker } from 'node:worker_threads';
import { AppError } from '../../errors.ts';
import { defaultPoolSize } from '../worker/pool.ts';
import type { ScanRequest, ScanResponse, WarmRequest } from './protocol.ts';
import type { BurnedInTextMode, ScanDepth } from './scan.ts';

interface Pending {
  resolve: (response: ScanResponse) => void;
  reject: (error: AppError) => void;
  timer: NodeJS.Timeout;
  worker: Worker;
}

/**
 * The OCR worker threads (worker.ts): started lazily, each scanning one image at a time with its own
 * models (~100 MB). `size` workers stay once started; under a backlog (a scan arrives while every
 * worker is busy) more start, up to `burst` (the decode pool's size: the cores, at most 4), and each
 * of those stops as soon as it is idle again, so a bot that is usually idle keeps one copy of the
 * models while a queue of reads is scanned on every core (issue 21). A scan goes to an idle worker,
 * else to a new one while there is room, else to the least busy. Idle workers never keep the process
 * alive.
 */
export function createScanPool(options: { burst?: number } = {}) {
  let size = 1;
  const burst = Math.max(1, Math.floor(options.burst ?? defaultPoolSize()));
  const workers: Worker[] = [];
  let nextId = 1;
  const pending = new Map<number, Pending>();
  let warmed: Worker | undefined;

  const load = (worker: Worker): number =>
    [...pending.values()].filter((entry) => entry.worker === worker).length;

  const forget = (worker: Worker): void => {
    const index = workers.indexOf(worker);
    if (index >= 0) workers.splice(index, 1);
    if (warmed === worker) warmed = undefined;
  };

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
      if (load(created) === 0) {
        created.unref();
        // A worker beyond the size (started for a backlog, or the pool shrank while it was busy) stops once idle.
        if (workers.indexOf(created) >= size) {
          forget(created);
          void created.terminate();
        }
      }
      entry.resolve(response);
    });
    created.on('error', (error) => {
      forget(created);
      failAll(created, new AppError('INTERNAL', `OCR worker failed: ${error.message}`, { cause: error }));
    });
    created.on('exit', (code) => {
      forget(created);
      failAll(created, new AppError('INTERNAL', `OCR worker exited with code ${code}`));
    });
    // Nothing in flight yet: a fresh worker alone must not hold the process open.
    created.unref();
    workers.push(created);
    return created;
  };

  const pick = (): Worker => {
    const idle = workers.find((worker) => load(worker) === 0);
    if (idle) return idle;
    if (workers.length < Math.max(size, burst)) return start();
    return workers.reduce((best, worker) => (load(worker) < load(best) ? worker : best));
  };

  return {
    /** Start the first worker's model loading now, ahead of its first scan. */
    warm(): void {
      const first = workers[0] ?? start();
      if (warmed === first) return;
      warmed = first;
      first.postMessage({ warm: true } satisfies WarmRequest);
    },
    run(
      png: Uint8Array,
      mode: BurnedInTextMode,
      timeoutMs: number,
      depth: ScanDepth = 'full',
    ): Promise<ScanResponse> {
      const current = pick();
      // Keep the process alive only while a scan is in flight; an idle worker must not hold it open.
      current.ref();
      const id = nextId++;
      return new Promise<ScanResponse>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          // The worker may be stuck inside the model: replace it rather than wait (its other scans
          // fail when it exits).
          forget(current);
          void current.terminate();
          reject(
            new AppError('DECODE_TIMEOUT', `burned-in text scan exceeded ${timeoutMs} ms`, {
              userMessage: 'Checking the image for burned-in text took too long.',
            }),
          );
        }, timeoutMs);
        pending.set(id, { resolve, reject, timer, worker: current });
        const request: ScanRequest = { id, png: new Uint8Array(png), mode, depth };
        current.postMessage(request, [request.png.buffer as ArrayBuffer]);
      });
    },
    /** At most `count` workers from now on; extra idle ones stop now, busy ones once their scans are done. */
    resize(count: number): void {
      size = Math.max(1, Math.floor(count));
      for (const worker of workers.slice(size)) {
        if (load(worker) > 0) continue;
        forget(worker);
        void worker.terminate();
      }
    },
    /** Workers running now (started lazily, at most the size). */
    get alive(): number {
      return workers.length;
    },
    async close(): Promise<void> {
      const current = workers.splice(0);
      warmed = undefined;
      await Promise.all(current.map((worker) => worker.terminate()));
    },
  };
}
