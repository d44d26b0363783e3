import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.ts';
import { createDispatcher, type Dispatcher } from '../../../src/dispatch/index.ts';
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

describe('engine found down at start-up', () => {
  it('reports the engine down before any read, holds work, and resumes when health returns', async () => {
    const engine = createTestEngine();
    engine.setDown(true);
    dispatcher = createDispatcher({
      engine,
      config: loadConfig({}),
      logger: silentLogger,
      healthPollMs: { min: 10, max: 20 },
    });
    expect(dispatcher.stats().engineUp).toBe(true);
    dispatcher.engineUnavailable();
    expect(dispatcher.stats().engineUp).toBe(false);

    const image = await fakePrepare(Buffer.from('scan'));
    const read = dispatcher.schedule({
      id: 'j1',
      userId: 'U1',
      channelId: 'console:radiology',
      priority: 0,
      input: { image, question: 'q', history: [] },
    });
    await new Promise((resolve) => setTimeout(resolve, 60));
    // Nothing was sent to an engine known to be down.
    expect(engine.calls).toHaveLength(0);

    engine.setDown(false);
    await until(() => dispatcher!.stats().engineUp);
    const result = await read;
    expect(result.findings.length).toBeGreaterThan(0);
    expect(engine.calls).toHaveLength(1);
  });
});
