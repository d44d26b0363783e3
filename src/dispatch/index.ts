import { EventEmitter } from 'node:events';
import Bottleneck from 'bottleneck';
import type { Config } from '../config.ts';
import type { Engine, InferenceResult } from '../core/types.ts';
import { AppError, isAppError, toAppError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { admissionRefusal, createUserAdmission } from './admission.ts';
import { createEngineGate } from './engine-gate.ts';
import type { Entry } from './entry.ts';
import { createFairQueue } from './fair-queue.ts';
import { createPlaces } from './places.ts';
import type { Dispatcher } from './types.ts';

export { createFairQueue } from './fair-queue.ts';
export type * from './types.ts';

export interface DispatcherDeps {
  engine: Engine;
  config: Config;
  logger: Logger;
  clock?: () => number;
  /** Routine work waiting longer than this competes as STAT (default 5 min). */
  agingMs?: number;
  /** Jobs prepared ahead of the GPU slots (default max(2, ENGINE_CONCURRENCY)). */
  lookahead?: number;
  /** Service-time guess before the first read finishes (default 8 s: an 8B model, 1024² image, H100). */
  initialServiceMs?: number;
  /** Health polling backoff while the engine is down. */
  healthPollMs?: { min: number; max: number };
  /** Tries for a transient engine failure (timeout, 5xx, out of memory) before giving up. */
  maxAttempts?: number;
  /** Queue places are recomputed and sent at most this often (default 50 ms). */
  publishEveryMs?: number;
}

const stoppedError = () => new AppError('INTERNAL', 'dispatcher stopped', { details: { stopped: true } });

export function isStoppedError(error: unknown): boolean {
  return isAppError(error, 'INTERNAL') && error.details.stopped === true;
}

/**
 * Keeps one GPU busy, fairly (DESIGN §1, issue #5). Bottleneck owns the GPU slots
 * (maxConcurrent = ENGINE_CONCURRENCY) and per-user admission; in front of it a per-channel
 * round-robin queue with STAT priority and aging decides who goes next, as late as possible, and
 * `lookahead` jobs beyond the slots are prepared (download, decode) while the engine works.
 */
export function createDispatcher(deps: DispatcherDeps): Dispatcher {
  const { engine, config } = deps;
  const clock = deps.clock ?? Date.now;
  const logger = deps.logger.child({ component: 'dispatch' });
  const concurrency = config.ENGINE_CONCURRENCY;
  const capacity = concurrency + (deps.lookahead ?? Math.max(2, concurrency));
  const poll = deps.healthPollMs ?? { min: 1000, max: 30_000 };
  const maxAttempts = deps.maxAttempts ?? 2;
  const events = new EventEmitter();
  const agingMs = deps.agingMs ?? 5 * 60_000;
  const queue = createFairQueue<Entry>({ clock, agingMs });
  const staged = new Set<Entry>();
  const gpu = new Bottleneck({ maxConcurrent: concurrency });
  const admission = createUserAdmission(config.USER_RATE_PER_MIN);
  let serviceMsEwma = deps.initialServiceMs ?? 8000;
  let running = 0;
  let stopped = false;
  let seq = 0;
  const gate = createEngineGate({
    engine,
    logger,
    events,
    clock,
    poll,
    onOpen: () => {
      pump();
      publish();
    },
  });

  const stagedWaiting = (): Entry[] => [...staged].filter((entry) => entry.state === 'staged');

  function etaSec(position = queue.size + stagedWaiting().length + 1): number {
    const ahead = Math.max(0, position - 1) + running * 0.5;
    return Math.max(1, Math.ceil((serviceMsEwma * (1 + ahead / concurrency)) / 1000));
  }

  const places = createPlaces({
    queue,
    staged,
    stagedWaiting,
    etaSec,
    isUp: () => gate.up,
    isStopped: () => stopped,
    everyMs: deps.publishEveryMs ?? 50,
    logger,
  });
  const { positions, send, updateKey, publish } = places;

  function settle(entry: Entry, outcome: { result?: InferenceResult; error?: unknown }, startedAt?: number) {
    if (entry.settled) return;
    entry.settled = true;
    queue.remove(entry.id);
    staged.delete(entry);
    const errorCode = outcome.error === undefined ? undefined : toAppError(outcome.error).code;
    events.emit('finished', {
      id: entry.id,
      durationMs: startedAt === undefined ? 0 : clock() - startedAt,
      waitMs: (startedAt ?? clock()) - entry.firstQueuedAt,
      urgency: outcome.result?.urgency,
      downscaled: outcome.result?.downscaled !== undefined,
      ...(errorCode ? { errorCode } : {}),
    });
    if (outcome.result) entry.resolve(outcome.result);
    else entry.reject(outcome.error);
    pump();
    publish();
  }

  function requeue(entry: Entry): void {
    staged.delete(entry);
    entry.state = 'waiting';
    queue.push(entry);
    publish();
  }

  async function run(entry: Entry): Promise<void> {
    if (entry.settled) return;
    if (entry.cancelled) return settle(entry, { error: cancelledError() });
    if (stopped) return;
    if (!gate.open()) return requeue(entry);
    entry.state = 'running';
    running += 1;
    entry.attempts += 1;
    const startedAt = clock();
    events.emit('started', { id: entry.id, waitMs: startedAt - entry.firstQueuedAt });
    send(entry, { state: 'reading' });
    publish();
    try {
      const result = await engine.infer(entry.input!, entry.controller.signal);
      running -= 1;
      serviceMsEwma = 0.8 * serviceMsEwma + 0.2 * Math.max(1, clock() - startedAt);
      settle(entry, { result }, startedAt);
    } catch (error) {
      running -= 1;
      if (stopped) return;
      const appError = entry.cancelled ? cancelledError() : toAppError(error, 'ENGINE_ERROR');
      if (appError.code === 'ENGINE_UNAVAILABLE') {
        gate.down();
        publish();
        entry.attempts -= 1;
        return requeue(entry);
      }
      if (appError.code === 'ENGINE_RATE_LIMITED') {
        // The server said when to come back (Retry-After); nobody is sent before then.
        gate.pause(appError.retryAfterSec ?? 1);
        entry.attempts -= 1;
        return requeue(entry);
      }
      if (appError.retryable && appError.code !== 'CANCELLED' && entry.attempts < maxAttempts) {
        logger.warn({ job: entry.id, code: appError.code }, 'transient engine failure; retrying');
        return requeue(entry);
      }
      settle(entry, { error: appError }, startedAt);
    } finally {
      pump();
    }
  }

  function stage(entry: Entry): void {
    entry.state = 'staged';
    staged.add(entry);
    send(entry, { state: 'preparing' });
    const { input } = entry.request;
    const ready = entry.input
      ? Promise.resolve(entry.input)
      : typeof input === 'function'
        ? input()
        : Promise.resolve(input);
    ready.then(
      (prepared) => {
        entry.input = prepared;
        if (stopped) return;
        if (entry.cancelled) return settle(entry, { error: cancelledError() });
        // Bottleneck: 0 is most urgent; STAT jumps routine work already waiting for a slot.
        const priority = entry.priority > 0 || clock() - entry.enqueuedAt >= agingMs ? 1 : 5;
        gpu
          .schedule({ priority, id: `${entry.id}#${entry.attempts}` }, () => run(entry))
          .catch((error) => {
            logger.error({ err: error, job: entry.id }, 'slot scheduling failed');
            settle(entry, { error: toAppError(error) });
          });
      },
      (error: unknown) => settle(entry, { error: toAppError(error, 'INTERNAL') }),
    );
  }

  /**
   * Fill the pipeline (GPU slots + lookahead) from the fair queue. STAT work does not wait for room
   * in the lookahead: it is prepared at once (preparation does not use the GPU) and then jumps the
   * routine jobs already waiting for a slot, so its wait is about one read, not a pipeline's worth.
   */
  function pump(): void {
    if (stopped || !gate.open()) return;
    while (staged.size < capacity && queue.size > 0) {
      const next = queue.pickNext();
      if (!next) break;
      stage(next);
    }
    while (queue.size > 0 && staged.size < capacity + concurrency) {
      const next = queue.pickNext(true);
      if (!next) break;
      stage(next);
    }
  }

  function cancelledError(): AppError {
    return new AppError('CANCELLED', 'cancelled by requester');
  }

  function cancel(id: string): boolean {
    const waiting = queue.get(id);
    if (waiting) {
      waiting.cancelled = true;
      settle(waiting, { error: cancelledError() });
      return true;
    }
    const active = [...staged].find((entry) => entry.id === id);
    if (!active) return false;
    active.cancelled = true;
    active.controller.abort(cancelledError());
    // Not on the GPU yet: answer now rather than when a slot frees (run() skips settled entries).
    if (active.state === 'staged') settle(active, { error: cancelledError() });
    return true;
  }

  return {
    events,
    async admit(userId) {
      if (stopped) throw stoppedError();
      const waiting = queue.size + stagedWaiting().length;
      if (waiting >= config.QUEUE_MAX) throw admissionRefusal('QUEUE_FULL', etaSec(waiting));
      await admission.admit(userId);
    },
    schedule(request, signal) {
      return new Promise<InferenceResult>((resolve, reject) => {
        if (stopped) return reject(stoppedError());
        // An 'abort' listener added to an already-aborted signal never fires: refuse now instead.
        if (signal?.aborted) return reject(cancelledError());
        const now = clock();
        const entry: Entry = {
          id: request.id,
          channelId: request.channelId,
          priority: request.priority,
          enqueuedAt: request.enqueuedAt ?? now,
          seq: seq++,
          request,
          resolve,
          reject,
          controller: new AbortController(),
          state: 'waiting',
          attempts: 0,
          firstQueuedAt: request.enqueuedAt ?? now,
          toldDown: false,
          cancelled: false,
          settled: false,
        };
        queue.push(entry);
        signal?.addEventListener('abort', () => cancel(entry.id), { once: true });
        if (request.onUpdate) {
          // The caller reports the place at enqueue itself; later updates only when it changes.
          const position = positions().get(entry.id) ?? 1;
          entry.lastUpdate = updateKey({
            state: gate.up ? 'queued' : 'waiting-engine',
            position,
            etaSec: 0,
          });
          if (!gate.up) entry.toldDown = true;
        }
        pump();
        publish();
      });
    },
    position(id) {
      const position = positions().get(id);
      return position === undefined ? undefined : { position, etaSec: etaSec(position) };
    },
    etaSec,
    cancel,
    engineUnavailable: () => gate.down(),
    stats: () => ({
      // queued + preparing = everything not yet on the GPU.
      queued: queue.size + stagedWaiting().filter((entry) => entry.input).length,
      preparing: stagedWaiting().filter((entry) => !entry.input).length,
      running,
      engineUp: gate.up,
      serviceMsEwma,
    }),
    async stop() {
      if (stopped) return;
      stopped = true;
      gate.stop();
      places.stop();
      for (const entry of [...queue.items(), ...staged]) {
        queue.remove(entry.id);
        entry.controller.abort(stoppedError());
        entry.reject(stoppedError());
      }
      staged.clear();
      await gpu.stop({ dropWaitingJobs: true }).catch(() => undefined);
      await admission.stop();
    },
  };
}
