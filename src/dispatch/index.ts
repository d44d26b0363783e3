import { EventEmitter } from 'node:events';
import type { Config } from '../config.ts';
import type { Engine, InferenceResult } from '../core/types.ts';
import { smallerInput } from '../engine/ladder.ts';
import { AppError, isAppError, toAppError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { admissionRefusal, createUserAdmission } from './admission.ts';
import type { Entry } from './entry.ts';
import { createFairQueue } from './fair-queue.ts';
import { createPlaces } from './places.ts';
import { createRouter, type Route } from './router.ts';
import type { Dispatcher, EndpointEngine } from './types.ts';

export { createFairQueue } from './fair-queue.ts';
export type * from './types.ts';

export interface DispatcherDeps {
  /** One model server with ENGINE_CONCURRENCY slots (tests, ENGINE=onnx)… */
  engine?: Engine;
  /** …or several (ENGINE_URLS, see createEngines): each read goes to the least loaded healthy one. */
  engines?: readonly EndpointEngine[];
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

/** The abort reason of an attempt moved off an endpoint that went down. */
const MOVED = Symbol('moved to another endpoint');

function missingEngine(): never {
  throw new AppError('INTERNAL', 'createDispatcher needs an engine or engines');
}

const stoppedError = () => new AppError('INTERNAL', 'dispatcher stopped', { details: { stopped: true } });

export function isStoppedError(error: unknown): boolean {
  return isAppError(error, 'INTERNAL') && error.details.stopped === true;
}

/**
 * Keeps one GPU busy, fairly (DESIGN §1, issues #5 and #14). One scheduler orders both preparation
 * (download, decode, text scan) and reading: the fair queue (one FIFO per channel served round-robin,
 * STAT first, routine work aging into STAT) predicts the service order; the jobs a few places from the
 * GPU (`lookahead` plus any free slot) are prepared in that order, so a quiet channel's scan is
 * prepared next rather than after a flood's; and each free slot takes the first *prepared* job in the
 * same order. A job leaves the queue only when it starts reading.
 */
export function createDispatcher(deps: DispatcherDeps): Dispatcher {
  const { config } = deps;
  const clock = deps.clock ?? Date.now;
  const logger = deps.logger.child({ component: 'dispatch' });
  const engines = deps.engines ?? [
    { label: 'engine', concurrency: config.ENGINE_CONCURRENCY, engine: deps.engine ?? missingEngine() },
  ];
  const events = new EventEmitter();
  let serviceMsEwma = deps.initialServiceMs ?? 8000;
  const poll = deps.healthPollMs ?? { min: 1000, max: 30_000 };
  const router = createRouter({
    engines,
    logger,
    events,
    clock,
    poll,
    initialServiceMs: serviceMsEwma,
    onOpen: () => {
      pump();
      publish();
    },
    onDown: moveReadsOff,
  });
  const concurrency = router.concurrency;
  const lookahead = deps.lookahead ?? Math.max(2, concurrency);
  /** Prepared or preparing jobs not yet reading, at most (memory: each holds a decoded image). */
  const maxStarted = 2 * (lookahead + concurrency);
  const maxAttempts = deps.maxAttempts ?? 2;
  const agingMs = deps.agingMs ?? 5 * 60_000;
  const queue = createFairQueue<Entry>({ clock, agingMs });
  const admission = createUserAdmission(config.USER_RATE_PER_MIN);
  let running = 0;
  let stopped = false;
  let seq = 0;
  /** Jobs whose preparation started (or finished) and that wait in the queue. */
  const ahead = new Set<Entry>();
  /** Jobs on the engine now (they have left the queue), for cancel() and stop(). */
  const reading = new Map<string, Entry>();

  function etaSec(position = queue.size + 1): number {
    const ahead = Math.max(0, position - 1) + running * 0.5;
    return Math.max(1, Math.ceil((serviceMsEwma * (1 + ahead / concurrency)) / 1000));
  }

  const places = createPlaces({
    queue,
    etaSec,
    isUp: () => router.up,
    isStopped: () => stopped,
    everyMs: deps.publishEveryMs ?? 50,
    logger,
  });
  const { positions, send, updateKey, publish } = places;

  function settle(
    entry: Entry,
    outcome: { result?: InferenceResult; error?: unknown },
    startedAt?: number,
    endpoint?: string,
  ) {
    if (entry.settled) return;
    entry.settled = true;
    queue.remove(entry.id);
    ahead.delete(entry);
    const errorCode = outcome.error === undefined ? undefined : toAppError(outcome.error).code;
    events.emit('finished', {
      id: entry.id,
      durationMs: startedAt === undefined ? 0 : clock() - startedAt,
      waitMs: (startedAt ?? clock()) - entry.firstQueuedAt,
      urgency: outcome.result?.urgency,
      downscaled: outcome.result?.downscaled !== undefined,
      ...(errorCode ? { errorCode } : {}),
      ...(endpoint ? { endpoint } : {}),
    });
    if (outcome.result) entry.resolve(outcome.result);
    else entry.reject(outcome.error);
    pump();
    publish();
  }

  function requeue(entry: Entry): void {
    entry.state = 'waiting';
    if (entry.input) ahead.add(entry);
    queue.push(entry);
    publish();
  }

  async function run(entry: Entry, route: Route): Promise<void> {
    entry.state = 'running';
    ahead.delete(entry);
    reading.set(entry.id, entry);
    // Each attempt has its own controller: cancel and stop reach it through the job's controller, and
    // an endpoint going down aborts it alone so the job can be read elsewhere.
    const attempt = new AbortController();
    const forward = () => attempt.abort(entry.controller.signal.reason);
    if (entry.controller.signal.aborted) forward();
    else entry.controller.signal.addEventListener('abort', forward, { once: true });
    route.reading.set(entry, attempt);
    running += 1;
    entry.attempts += 1;
    const startedAt = clock();
    events.emit('started', { id: entry.id, waitMs: startedAt - entry.firstQueuedAt, endpoint: route.label });
    send(entry, { state: 'reading' });
    publish();
    const finish = () => {
      running -= 1;
      reading.delete(entry.id);
      route.reading.delete(entry);
      entry.controller.signal.removeEventListener('abort', forward);
    };
    try {
      const result = await route.engine.infer(entry.input!, attempt.signal);
      finish();
      const tookMs = Math.max(1, clock() - startedAt);
      serviceMsEwma = 0.8 * serviceMsEwma + 0.2 * tookMs;
      route.serviceMsEwma = 0.8 * route.serviceMsEwma + 0.2 * tookMs;
      settle(entry, { result }, startedAt, route.label);
    } catch (error) {
      finish();
      if (stopped) return;
      if (!entry.cancelled && attempt.signal.reason === MOVED) {
        entry.attempts -= 1;
        return requeue(entry);
      }
      const appError = entry.cancelled ? cancelledError() : toAppError(error, 'ENGINE_ERROR');
      if (appError.code === 'ENGINE_UNAVAILABLE') {
        route.gate.down();
        publish();
        entry.attempts -= 1;
        return requeue(entry);
      }
      if (appError.code === 'ENGINE_CRASHED') {
        // The engine process died under this read (vLLM's EngineCore, Ollama's runner): nothing is sent
        // until health answers again, and this read gets one more try, one ladder step smaller.
        route.gate.down();
        publish();
        const smaller = entry.crashedOnce
          ? undefined
          : await smallerInput(entry.input!).catch(() => undefined);
        // With several endpoints the crash may be that server's alone: the one retry goes to another
        // endpoint that is up, smaller when a smaller size exists, else as it was.
        const elsewhere = router.routes.some((other) => other !== route && other.gate.up);
        if ((smaller || (elsewhere && !entry.crashedOnce)) && !stopped && !entry.cancelled) {
          // The attempt counts (unlike ENGINE_UNAVAILABLE): this retry is the read's second try, and a
          // new Bottleneck job id is needed while this one is still finishing.
          entry.crashedOnce = true;
          if (smaller) entry.input = smaller;
          logger.warn({ job: entry.id }, 'engine died during a read; retrying once smaller when it is back');
          return requeue(entry);
        }
        if (stopped) return;
      }
      if (appError.code === 'ENGINE_RATE_LIMITED') {
        // The server said when to come back (Retry-After); nobody is sent there before then.
        route.gate.pause(appError.retryAfterSec ?? 1);
        entry.attempts -= 1;
        return requeue(entry);
      }
      const retryable = appError.retryable && appError.code !== 'ENGINE_CRASHED';
      if (retryable && appError.code !== 'CANCELLED' && entry.attempts < maxAttempts) {
        logger.warn(
          { job: entry.id, code: appError.code, endpoint: route.label },
          'transient engine failure; retrying',
        );
        return requeue(entry);
      }
      settle(entry, { error: appError }, startedAt, route.label);
    } finally {
      pump();
    }
  }

  /**
   * An endpoint went down: its reads in flight are aborted and queued again for an endpoint that is up,
   * rather than waiting on a server that may never answer. With no other endpoint up they stay put:
   * there is nowhere better to go, and the server may still finish them.
   */
  function moveReadsOff(route: Route): void {
    if (stopped || !router.routes.some((other) => other !== route && other.gate.up)) return;
    for (const [entry, attempt] of route.reading) {
      logger.warn({ job: entry.id, endpoint: route.label }, 'endpoint down; moving its read to another');
      attempt.abort(MOVED);
    }
  }

  /** Start a job's preparation (the caller's input function: download, decode, load). */
  function prepare(entry: Entry): void {
    entry.preparing = true;
    ahead.add(entry);
    send(entry, { state: 'preparing' });
    const { input } = entry.request;
    Promise.resolve(typeof input === 'function' ? input() : input).then(
      (prepared) => {
        entry.input = prepared;
        entry.preparing = false;
        if (!stopped && !entry.settled) pump();
      },
      (error: unknown) => settle(entry, { error: toAppError(error, 'INTERNAL') }),
    );
  }

  /**
   * The jobs next in line for the engine — `lookahead` plus one per free slot, in the fair queue's
   * order — are prepared; each free slot then takes the first prepared one among them, STAT first.
   * A job prepared earlier that has since fallen back (a flood's early arrivals) waits for its turn
   * instead of taking a slot from the channels ahead of it.
   */
  function pump(): void {
    if (stopped || queue.size === 0) return;
    const free = router.free();
    const next = queue.ranks(lookahead + free);
    for (const id of next.keys()) {
      if (ahead.size >= maxStarted) break;
      const entry = queue.get(id)!;
      if (!entry.preparing && entry.input === undefined) prepare(entry);
    }
    const eligible = (entry: Entry) => entry.input !== undefined && next.has(entry.id);
    for (let route = router.pick(); route; route = router.pick()) {
      const picked = queue.pickNext(eligible);
      if (!picked) break;
      void run(picked, route);
    }
  }

  function cancelledError(): AppError {
    return new AppError('CANCELLED', 'cancelled by requester');
  }

  function cancel(id: string): boolean {
    const waiting = queue.get(id);
    if (waiting) {
      // Waiting or still preparing: answered now (a late preparation result is dropped).
      waiting.cancelled = true;
      waiting.controller.abort(cancelledError());
      settle(waiting, { error: cancelledError() });
      return true;
    }
    const active = reading.get(id);
    if (!active) return false;
    active.cancelled = true;
    active.controller.abort(cancelledError());
    return true;
  }

  return {
    events,
    async admit(userId) {
      if (stopped) throw stoppedError();
      const waiting = queue.size;
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
          preparing: false,
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
            state: router.up ? 'queued' : 'waiting-engine',
            position,
            etaSec: 0,
          });
          if (!router.up) entry.toldDown = true;
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
    engineUnavailable: () => router.downAll(),
    stats: () => {
      const preparing = [...ahead].filter((entry) => entry.preparing).length;
      // queued + preparing = everything not yet on the GPU.
      return {
        queued: queue.size - preparing,
        preparing,
        running,
        engineUp: router.up,
        serviceMsEwma,
        endpoints: router.stats(),
      };
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      router.stop();
      places.stop();
      ahead.clear();
      for (const entry of [...queue.items(), ...reading.values()]) {
        queue.remove(entry.id);
        entry.controller.abort(stoppedError());
        entry.reject(stoppedError());
      }
      reading.clear();
      await admission.stop();
    },
  };
}
