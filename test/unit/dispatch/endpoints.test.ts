import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.ts';
import { createDispatcher, type Dispatcher, type FinishedEvent } from '../../../src/dispatch/index.ts';
import { silentLogger } from '../../../src/log.ts';
import { createTestEngine, fakePrepare } from '../../helpers/core-doubles.ts';

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

describe('dispatcher with several endpoints', () => {
  it('moves a read that hangs on an endpoint found down to an endpoint that is up', async () => {
    const a = createTestEngine({ hold: true });
    const b = createTestEngine({ hold: true });
    const d = createDispatcher({
      engines: [
        { label: 'a', concurrency: 2, engine: a },
        { label: 'b', concurrency: 1, engine: b },
      ],
      config: loadConfig({}),
      logger: silentLogger,
      healthPollMs: { min: 10_000, max: 10_000 },
    });
    dispatcher = d;
    const started = new Map<string, string[]>();
    const finished = new Map<string, string | undefined>();
    d.events.on('started', (event: { id: string; endpoint: string }) =>
      started.set(event.id, [...(started.get(event.id) ?? []), event.endpoint]),
    );
    d.events.on('finished', (event: FinishedEvent) => finished.set(event.id, event.endpoint));
    const image = await fakePrepare(Buffer.from('scan'));
    const read = (id: string) =>
      d.schedule({
        id,
        userId: id,
        channelId: `c:${id}`,
        priority: 0,
        input: { image, question: 'q', history: [] },
      });

    const first = read('first');
    await until(() => a.pending.length === 1);
    const second = read('second');
    await until(() => b.pending.length === 1);
    // A stops answering new requests (its server died) while `first` still hangs there.
    a.setDown(true);
    const third = read('third');
    // `third` hit A, failed ENGINE_UNAVAILABLE, and A was marked down: `first` was aborted on A.
    await until(() => d.stats().endpoints?.[0]?.up === false && a.pending.length === 0);
    expect(d.stats().engineUp).toBe(true);
    b.setHold(false);
    b.releaseAll();
    await Promise.all([first, second, third]);
    expect(started.get('first')).toEqual(['a', 'b']);
    expect(finished.get('first')).toBe('b');
    expect(finished.get('third')).toBe('b');
    // Nothing was sent to A after it was found down.
    expect(a.calls).toHaveLength(2);
    expect(d.stats().endpoints?.map((endpoint) => endpoint.running)).toEqual([0, 0]);
  });

  it('leaves a read on the only endpoint when it goes down: there is nowhere better to go', async () => {
    const a = createTestEngine({ hold: true });
    const d = createDispatcher({
      engines: [{ label: 'a', concurrency: 2, engine: a }],
      config: loadConfig({}),
      logger: silentLogger,
      healthPollMs: { min: 10, max: 20 },
    });
    dispatcher = d;
    const image = await fakePrepare(Buffer.from('scan'));
    const first = d.schedule({
      id: 'x',
      userId: 'u',
      channelId: 'c',
      priority: 0,
      input: { image, question: 'q', history: [] },
    });
    await until(() => a.pending.length === 1);
    d.engineUnavailable();
    expect(a.pending).toHaveLength(1);
    a.releaseAll();
    expect((await first).findings.length).toBeGreaterThan(0);
  });
});
