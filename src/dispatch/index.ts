import { EventEmitter } from 'node:events';
import Bottleneck from 'bottleneck';
import type { Config } from '../config.ts';
import type { Engine, InferenceInput, InferenceResult } from '../core/types.ts';
import { AppError, isAppError, toAppError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { admissionRefusal, createUserAdmission } from './admission.ts';
import { createFairQueue, type QueueItem } from './fair-queue.ts';
import type { Dispatcher, DispatchRequest, DispatchUpdate } from './types.ts';

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

interface Entry extends QueueItem {
  request: DispatchRequest;
  resolve: (result: InferenceResult) => void;
  reject: (error: unknown) => void;
  input?: InferenceInput;
  controller: AbortController;
  state: 'waiting' | 'staged' | 'running';
  attempts: number;
  firstQueuedAt: number;
  lastUpdate?: string;
  toldDown: boolean;
  cancelled: boolean;
  settled: boolean;
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
  let engineUp = true;
  let stopped = false;
  let pausedUntil = 0;
  let seq = 0;
  let healthTimer: NodeJS.Timeout | undefined;
  let pauseTimer: NodeJS.Timeout | undefined;
  let publishTimer: NodeJS.Timeout | undefined;
  const publishEveryMs = deps.publishEveryMs ?? 50;

  const stagedWaiting = (): Entry[] => [...staged].filter((entry) => entry.state === 'staged');

  function etaSec(position = queue.size + stagedWaiting().length + 1): number {
    const ahead = Math.max(0, position - 1) + running * 0.5;
    return Math.max(1, Math.ceil((serviceMsEwma * (1 + ahead / concurrency)) / 1000));
  }

  function positions(): Map<string, number> {
    const result = new Map<string, number>();
    const waitingStaged = stagedWaiting();
    for (const [index, entry] of waitingStaged.entries()) result.set(entry.id, index + 1);
    for (const [id, rank] of queue.ranks()) result.set(id, waitingStaged.length + rank);
    return result;
  }

  /** An update is sent when the state or the place changed; a drifting ETA alone is not news. */
  const updateKey = (update: DispatchUpdate): string =>
    `${update.state}:${'position' in update ? update.position : ''}`;

  function send(entry: Entry, update: DispatchUpdate): void {
    const key = updateKey(update);
    if (key === entry.lastUpdate) return;
    entry.lastUpdate = key;
    try {
      entry.request.onUpdate?.(update);
    } catch (error) {
      logger.warn({ err: error, job: entry.id }, 'update callback failed');
    }
  }

  /**
   * Tell waiting requesters their new place when it changed. Coalesced over `publishEveryMs`: places
   * change at every start and finish, and recomputing them for the whole queue each time would cost
   * more than the scheduling itself (chat edits are throttled far more anyway).
   */
  function publish(): void {
    if (publishTimer || stopped) return;
    publishTimer = setTimeout(() => {
      publishTimer = undefined;
      if (stopped || !hasListeners()) return;
      for (const [id, position] of positions()) {
        const entry = queue.get(id) ?? [...staged].find((candidate) => candidate.id === id);
        if (!entry) continue;
        if (!engineUp) {
          // Told once per outage ("engine unavailable, you are #k"); places barely move meanwhile.
          if (entry.toldDown) continue;
          entry.toldDown = true;
          send(entry, { state: 'waiting-engine', position, etaSec: etaSec(position) });
          continue;
        }
        entry.toldDown = false;
        send(entry, { state: 'queued', position, etaSec: etaSec(position) });
      }
    }, publishEveryMs);
  }

  const hasListeners = (): boolean =>
    queue.items().some((entry) => entry.request.onUpdate) ||
    [...staged].some((entry) => entry.request.onUpdate);

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

  function engineDown(): void {
    if (!engineUp) return;
    engineUp = false;
    logger.warn('engine unavailable; jobs wait and health is polled');
    events.emit('engine', { up: false });
    publish();
    scheduleHealth(poll.min);
  }

  function scheduleHealth(delayMs: number): void {
    if (stopped) return;
    healthTimer = setTimeout(async () => {
      const health = await engine.health().catch(() => ({ ok: false }));
      if (stopped) return;
      if (!health.ok) return scheduleHealth(Math.min(delayMs * 2, poll.max));
      engineUp = true;
      logger.info('engine back; resuming');
      events.emit('engine', { up: true });
      pump();
      publish();
    }, delayMs);
  }

  /** Timers may fire a little early against the clock: wait until the pause has really passed. */
  function resumeAfterPause(): void {
    clearTimeout(pauseTimer);
    pauseTimer = setTimeout(
      () => (clock() < pausedUntil ? resumeAfterPause() : pump()),
      Math.max(1, pausedUntil - clock() + 1),
    );
  }

  async function run(entry: Entry): Promise<void> {
    if (entry.settled) return;
    if (entry.cancelled) return settle(entry, { error: cancelledError() });
    if (stopped) return;
    if (!engineUp || clock() < pausedUntil) return requeue(entry);
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
        engineDown();
        entry.attempts -= 1;
        return requeue(entry);
      }
      if (appError.code === 'ENGINE_RATE_LIMITED') {
        // The server said when to come back (Retry-After); nobody is sent before then.
        pausedUntil = Math.max(pausedUntil, clock() + (appError.retryAfterSec ?? 1) * 1000);
        resumeAfterPause();
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
    if (stopped || !engineUp || clock() < pausedUntil) return;
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
            state: engineUp ? 'queued' : 'waiting-engine',
            position,
            etaSec: 0,
          });
          if (!engineUp) entry.toldDown = true;
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
    stats: () => ({
      // queued + preparing = everything not yet on the GPU.
      queued: queue.size + stagedWaiting().filter((entry) => entry.input).length,
      preparing: stagedWaiting().filter((entry) => !entry.input).length,
      running,
      engineUp,
      serviceMsEwma,
    }),
    async stop() {
      if (stopped) return;
      stopped = true;
      clearTimeout(healthTimer);
      clearTimeout(pauseTimer);
      clearTimeout(publishTimer);
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
