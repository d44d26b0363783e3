import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.ts';
import type { InferenceInput } from '../../../src/core/types.ts';
import { createDispatcher, type Dispatcher } from '../../../src/dispatch/index.ts';
import { createEngine } from '../../../src/engine/index.ts';
import { AppError } from '../../../src/errors.ts';
import { silentLogger } from '../../../src/log.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../../fakes/openai-server.ts';
import { preparedImage } from './image.ts';

/**
 * The error strings real servers send (vLLM's EngineDeadError and encoder-cache check, Ollama's dead
 * runner, a socket dropped mid-answer), through the real engine and dispatcher against the loopback fake.
 */

let fake: FakeOpenAI | undefined;
let dispatcher: Dispatcher | undefined;
afterEach(async () => {
  await dispatcher?.stop();
  await fake?.close();
  dispatcher = undefined;
  fake = undefined;
});

async function input(side = 512): Promise<InferenceInput> {
  return { image: await preparedImage(side, side), question: 'Any nodules?', history: [] };
}

const readSides = (server: FakeOpenAI) =>
  server.requests
    .filter((r) => r.kind === 'read')
    .map((r) => Math.max(r.image?.width ?? 0, r.image?.height ?? 0));

describe('engine errors as the real servers word them', () => {
  it('puts vLLM’s encoder-cache 400 on the smaller-image ladder', async () => {
    fake = await startFakeOpenAI({ oomStyle: 'encoder-cache' });
    const engine = createEngine(loadConfig({ ENGINE_URL: fake.url }), { logger: silentLogger });
    await fake.setMode('oom-above', 200); // 512² = 256 tokens; 384² = 144
    const result = await engine.infer(await input(), AbortSignal.timeout(5000));
    expect(result.downscaled?.tokens).toBeLessThanOrEqual(200);
    expect(readSides(fake)).toEqual([512, 384]);
  });

  it.each([
    ['vLLM EngineCore 500', 'engine-dead-once', 'vllm'],
    ['Ollama runner terminated', 'engine-dead-once', 'ollama'],
    ['socket reset mid-read', 'reset-once', 'vllm'],
  ] as const)('reports %s as ENGINE_CRASHED, not as a generic error', async (_name, mode, deathStyle) => {
    fake = await startFakeOpenAI({ deathStyle });
    const engine = createEngine(loadConfig({ ENGINE_URL: fake.url }), { logger: silentLogger });
    await fake.setMode(mode);
    const error = await engine.infer(await input(), AbortSignal.timeout(5000)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('ENGINE_CRASHED');
    expect((error as AppError).userMessage).not.toMatch(/EngineCore|llama runner/);
  });

  it('marks the engine down, waits for health, then retries the read once one step smaller', async () => {
    fake = await startFakeOpenAI();
    const engine = createEngine(loadConfig({ ENGINE_URL: fake.url }), { logger: silentLogger });
    dispatcher = createDispatcher({
      engine,
      config: loadConfig({}),
      logger: silentLogger,
      healthPollMs: { min: 10, max: 20 },
    });
    const seen: boolean[] = [];
    dispatcher.events.on('engine', (event: { up: boolean }) => seen.push(event.up));
    await fake.setMode('engine-dead-once');
    const result = await dispatcher.schedule({
      id: 'j1',
      userId: 'U1',
      channelId: 'C1',
      priority: 0,
      input: await input(),
    });
    expect(result.findings.length).toBeGreaterThan(0);
    expect(seen).toEqual([false, true]);
    expect(readSides(fake)).toEqual([512, 384]);
  });

  it('fails the read with ENGINE_CRASHED when the engine dies under it twice', async () => {
    fake = await startFakeOpenAI();
    const engine = createEngine(loadConfig({ ENGINE_URL: fake.url }), { logger: silentLogger });
    dispatcher = createDispatcher({
      engine,
      config: loadConfig({}),
      logger: silentLogger,
      healthPollMs: { min: 10, max: 20 },
    });
    // Dies on every read: after each death the fake goes back to 'ok', so set it again on each request.
    dispatcher.events.on('started', () => void fake?.setMode('engine-dead-once'));
    const error = await dispatcher
      .schedule({ id: 'j2', userId: 'U1', channelId: 'C1', priority: 0, input: await input() })
      .catch((e: unknown) => e);
    expect((error as AppError).code).toBe('ENGINE_CRASHED');
    expect(readSides(fake)).toEqual([512, 384]);
  });
});

describe('a server that ignores response_format', () => {
  it('lists 30 findings: the read keeps the 12 most confident and says 18 were left out', async () => {
    const findings = Array.from({ length: 30 }, (_, i) => ({
      label: `Finding ${i}`,
      location: 'right lung',
      confidence: (i + 1) / 31,
    }));
    fake = await startFakeOpenAI({ findings, logprobs: false });
    const engine = createEngine(loadConfig({ ENGINE_URL: fake.url }), { logger: silentLogger });
    const result = await engine.infer(await input(), AbortSignal.timeout(5000));
    expect(result.findings).toHaveLength(12);
    expect(result.findings[0]!.label).toBe('Finding 18');
    expect(result.omittedFindings).toBe(18);
  });
});
