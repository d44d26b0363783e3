import { afterEach, describe, expect, it } from 'vitest';
import { type Env, loadConfig } from '../../../src/config.ts';
import type { Engine, InferenceInput, InferenceResult } from '../../../src/core/types.ts';
import {
  createDispatcher,
  type Dispatcher,
  type DispatchUpdate,
  type FinishedEvent,
} from '../../../src/dispatch/index.ts';
import { AppError, isAppError } from '../../../src/errors.ts';
import { silentLogger } from '../../../src/log.ts';
import { createTestEngine, fakePrepare, resultFor } from '../../helpers/core-doubles.ts';

let dispatcher: Dispatcher | undefined;
afterEach(async () => {
  await dispatcher?.stop();
  dispatcher = undefined;
});

const until = async (predicate: () => boolean, timeoutMs = 3000) => {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
};

async function input(tag: string): Promise<InferenceInput> {
  return { image: await fakePrepare(Buffer.from(tag)), question: tag, history: [] };
}

function make(engine: Engine, env: Env = {}, extra: Partial<Parameters<typeof createDispatcher>[0]> = {}) {
  const config = loadConfig({ ENGINE_CONCURRENCY: '1', ...env });
  dispatcher = createDispatcher({
    engine,
    config,
    logger: silentLogger,
    healthPollMs: { min: 10, max: 20 },
    ...extra,
  });
  return dispatcher;
}

const job = (id: string, channelId = 'c', priority = 0, onUpdate?: (u: DispatchUpdate) => void) => ({
  id,
  userId: `u-${id}`,
  channelId,
  priority,
  input: () => input(id),
  ...(onUpdate ? { onUpdate } : {}),
});

describe('dispatcher', () => {
  it('keeps ENGINE_CONCURRENCY reads in flight and prepares the next ones meanwhile', async () => {
    const engine = createTestEngine({ hold: true });
    const d = make(engine, { ENGINE_CONCURRENCY: '2' }, { lookahead: 2 });
    const prepared: string[] = [];
    const results = Array.from({ length: 8 }, (_, i) =>
      d.schedule({
        ...job(`j${i}`),
        input: async () => {
          prepared.push(`j${i}`);
          return input(`j${i}`);
        },
      }),
    );
    await until(() => engine.pending.length === 2 && prepared.length === 4);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(engine.pending).toHaveLength(2);
    expect(prepared).toHaveLength(4);
    expect(d.stats()).toMatchObject({ running: 2, queued: 6, preparing: 0 });
    while (engine.calls.length < 8 || engine.pending.length > 0) {
      engine.releaseAll();
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const answered = await Promise.all(results);
    expect(answered.map((r) => r.impression)).toHaveLength(8);
  });

  it('reports queue positions at enqueue and as they change, with an ETA', async () => {
    const engine = createTestEngine({ hold: true });
    const d = make(engine, {}, { lookahead: 1, initialServiceMs: 4000 });
    const updates: DispatchUpdate[] = [];
    const all = [0, 1, 2, 3].map((i) =>
      d.schedule(job(`p${i}`, 'c', 0, i === 3 ? (u) => updates.push(u) : undefined)),
    );
    await until(() => engine.pending.length === 1);
    expect(d.position('p3')).toEqual({ position: 3, etaSec: expect.any(Number) });
    expect(d.position('p1')?.position).toBe(1);
    const eta3 = d.position('p3')!.etaSec;
    expect(eta3).toBeGreaterThan(d.position('p1')!.etaSec);
    engine.releaseAll();
    await until(() => updates.some((u) => u.state === 'queued' && u.position === 2));
    while (engine.calls.length < 4 || engine.pending.length > 0) {
      engine.releaseAll();
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await Promise.all(all);
    expect(updates.map((u) => u.state)).toContain('reading');
    expect(d.position('p3')).toBeUndefined();
  });

  it('runs STAT work before routine work that is already waiting', async () => {
    const engine = createTestEngine({ hold: true });
    const d = make(engine, {}, { lookahead: 1 });
    const order: string[] = [];
    const all = ['r0', 'r1', 'r2', 'r3'].map((id) => d.schedule(job(id, 'ward')).then(() => order.push(id)));
    await until(() => engine.pending.length === 1);
    all.push(d.schedule(job('stat', 'ed', 10)).then(() => order.push('stat')));
    while (order.length < 5) {
      engine.releaseAll();
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    // r0 was reading and r1 already prepared next in line (lookahead 1); STAT goes right after.
    expect(order.indexOf('stat')).toBeLessThanOrEqual(2);
    expect(order.slice(-1)).not.toEqual(['stat']);
  });

  it('interleaves channels: a flood in one channel does not hold back another', async () => {
    const engine = createTestEngine({ hold: true });
    const d = make(engine, {}, { lookahead: 1 });
    const order: string[] = [];
    const all: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i += 1)
      all.push(d.schedule(job(`flood${i}`, 'flood')).then(() => order.push('flood')));
    for (let i = 0; i < 4; i += 1) all.push(d.schedule(job(`ed${i}`, 'ed')).then(() => order.push('ed')));
    while (order.length < 24) {
      engine.releaseAll();
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    expect(order.lastIndexOf('ed')).toBeLessThan(12);
  });

  it('waits out an engine outage, tells each waiting job once, and resumes by itself', async () => {
    const engine = createTestEngine();
    engine.setDown(true);
    const d = make(engine);
    const finished: FinishedEvent[] = [];
    d.events.on('finished', (event: FinishedEvent) => finished.push(event));
    const seen: Record<string, DispatchUpdate[]> = { a: [], b: [] };
    const a = d.schedule(job('a', 'c', 0, (u) => seen.a!.push(u)));
    const b = d.schedule(job('b', 'c', 0, (u) => seen.b!.push(u)));
    await until(() => !d.stats().engineUp && seen.b!.some((u) => u.state === 'waiting-engine'));
    await new Promise((resolve) => setTimeout(resolve, 60));
    for (const list of Object.values(seen)) {
      expect(list.filter((u) => u.state === 'waiting-engine')).toHaveLength(1);
    }
    const callsWhileDown = engine.calls.length;
    expect(callsWhileDown).toBe(1);
    engine.setDown(false);
    await expect(a).resolves.toMatchObject({ model: 'test-model' });
    await expect(b).resolves.toMatchObject({ model: 'test-model' });
    expect(d.stats().engineUp).toBe(true);
    expect(finished.every((event) => event.errorCode === undefined)).toBe(true);
  });

  it('honours Retry-After from ENGINE_RATE_LIMITED before sending again', async () => {
    const times: number[] = [];
    let first = true;
    const engine: Engine = {
      id: 't',
      model: 'm',
      health: async () => ({ ok: true }),
      async infer(inp): Promise<InferenceResult> {
        times.push(Date.now());
        if (first) {
          first = false;
          throw new AppError('ENGINE_RATE_LIMITED', '429', { retryAfterSec: 0.2 });
        }
        return resultFor(inp);
      },
    };
    const d = make(engine);
    await d.schedule(job('x'));
    expect(times).toHaveLength(2);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(190);
  });

  it('refuses a job whose signal was aborted before it was scheduled (it would never be cancelled)', async () => {
    const engine = createTestEngine({ hold: true });
    const d = make(engine);
    const stop = new AbortController();
    stop.abort();
    await expect(d.schedule(job('late'), stop.signal)).rejects.toSatisfy((e) => isAppError(e, 'CANCELLED'));
    expect(d.stats().queued + d.stats().preparing + d.stats().running).toBe(0);
    expect(engine.pending).toHaveLength(0);
  });

  it('cancels waiting and running jobs, and fails non-retryable errors at once', async () => {
    const engine = createTestEngine({ hold: true });
    const d = make(engine, {}, { lookahead: 0 });
    const running = d.schedule(job('run'));
    const waiting = d.schedule(job('wait'));
    await until(() => engine.pending.length === 1);
    expect(d.cancel('wait')).toBe(true);
    await expect(waiting).rejects.toSatisfy((e) => isAppError(e, 'CANCELLED'));
    expect(d.cancel('run')).toBe(true);
    await expect(running).rejects.toSatisfy((e) => isAppError(e, 'CANCELLED'));
    expect(d.cancel('unknown')).toBe(false);

    const broken: Engine = {
      id: 'b',
      model: 'm',
      health: async () => ({ ok: true }),
      infer: async () => {
        throw new AppError('MODEL_OUTPUT_INVALID', 'bad json');
      },
    };
    await d.stop();
    const d2 = make(broken);
    await expect(d2.schedule(job('bad'))).rejects.toSatisfy((e) => isAppError(e, 'MODEL_OUTPUT_INVALID'));
  });

  it('retries a transient failure once, then gives up with its code', async () => {
    let calls = 0;
    const flaky: Engine = {
      id: 'f',
      model: 'm',
      health: async () => ({ ok: true }),
      infer: async () => {
        calls += 1;
        throw new AppError('ENGINE_TIMEOUT', 'slow');
      },
    };
    const d = make(flaky);
    await expect(d.schedule(job('slow'))).rejects.toSatisfy((e) => isAppError(e, 'ENGINE_TIMEOUT'));
    expect(calls).toBe(2);
  });

  it('refuses over QUEUE_MAX with an ETA and over USER_RATE_PER_MIN per user', async () => {
    const engine = createTestEngine({ hold: true });
    const d = make(engine, { QUEUE_MAX: '2', USER_RATE_PER_MIN: '3' }, { lookahead: 0 });
    void d.schedule(job('a')).catch(() => undefined);
    await until(() => engine.pending.length === 1);
    void d.schedule(job('b')).catch(() => undefined);
    void d.schedule(job('c')).catch(() => undefined);
    const full = await d.admit('someone').catch((e: unknown) => e);
    expect(isAppError(full, 'QUEUE_FULL')).toBe(true);
    expect((full as AppError).userMessage).toMatch(/about \d+ (s|min)/);
    d.cancel('c');
    await d.admit('u');
    await d.admit('u');
    await d.admit('u');
    const limited = await d.admit('u').catch((e: unknown) => e);
    expect(isAppError(limited, 'RATE_LIMITED')).toBe(true);
    await expect(d.admit('other-user')).resolves.toBeUndefined();
  });
});
