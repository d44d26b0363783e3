import { afterEach, describe, expect, it } from 'vitest';
import { runDoctor } from '../../../src/commands/doctor.ts';
import { loadConfig } from '../../../src/config.ts';
import type { InferenceInput } from '../../../src/core/types.ts';
import { createEngine } from '../../../src/engine/index.ts';
import { silentLogger } from '../../../src/log.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../../fakes/openai-server.ts';
import { preparedImage } from './image.ts';

/**
 * Ollama and thinking models (issue 16): thinking is turned off per request where the server takes the
 * field (Ollama, detected by GET /api/version), never sent to vLLM, dropped when refused; probes that
 * never say Yes/No stop for the process's life, and doctor says why.
 */

let fake: FakeOpenAI | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const input = async (): Promise<InferenceInput> => ({
  image: await preparedImage(384, 384),
  question: 'Any nodules?',
  history: [],
});

const chatBodies = (server: FakeOpenAI) =>
  server.requests.filter((r) => r.path === '/v1/chat/completions').map((r) => r.body);

const model = 'qwen3-vl:8b';

describe('openai engine against Ollama', () => {
  it('asks Ollama for answers without thinking, so probes of a thinking model answer Yes/No', async () => {
    fake = await startFakeOpenAI({ model, ollama: { version: '0.12.6', thinking: true } });
    const engine = createEngine(loadConfig({ ENGINE_URL: fake.url, ENGINE_MODEL: model }), {
      logger: silentLogger,
    });
    const result = await engine.infer(await input(), AbortSignal.timeout(5000));
    const bodies = chatBodies(fake);
    expect(bodies.length).toBeGreaterThan(1);
    for (const body of bodies) expect(body.reasoning_effort).toBe('none');
    expect(result.findings[0]!.confidence.source).toBe('probe-logprob');
  });

  it('asks again whether it is Ollama when the server was down at the first read', async () => {
    fake = await startFakeOpenAI({ model, ollama: { version: '0.12.6', thinking: true } });
    const engine = createEngine(loadConfig({ ENGINE_URL: fake.url, ENGINE_MODEL: model }), {
      logger: silentLogger,
      retry: { attempts: 0 },
    });
    await fake.setMode('down');
    const down = await engine.infer(await input(), AbortSignal.timeout(5000)).catch((e: unknown) => e);
    expect(down).toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
    await fake.setMode('ok');
    await engine.infer(await input(), AbortSignal.timeout(5000));
    const bodies = chatBodies(fake);
    expect(bodies.length).toBeGreaterThan(0);
    for (const body of bodies) expect(body.reasoning_effort).toBe('none');
  });

  it('sends no thinking field to a vLLM server (no /api/version)', async () => {
    fake = await startFakeOpenAI();
    const engine = createEngine(loadConfig({ ENGINE_URL: fake.url }), { logger: silentLogger });
    await engine.infer(await input(), AbortSignal.timeout(5000));
    for (const body of chatBodies(fake)) expect(body).not.toHaveProperty('reasoning_effort');
  });

  it('drops the field for good when the server refuses it, and still reads', async () => {
    fake = await startFakeOpenAI({ model, ollama: { version: '0.9.0', refusesReasoningEffort: true } });
    const engine = createEngine(loadConfig({ ENGINE_URL: fake.url, ENGINE_MODEL: model }), {
      logger: silentLogger,
    });
    const first = await engine.infer(await input(), AbortSignal.timeout(5000));
    expect(first.findings).toHaveLength(1);
    const sent = chatBodies(fake).length;
    await engine.infer(await input(), AbortSignal.timeout(5000));
    const later = chatBodies(fake).slice(sent);
    expect(later.length).toBeGreaterThan(0);
    for (const body of later) expect(body).not.toHaveProperty('reasoning_effort');
  });

  it('stops probing for good once probes come back without Yes/No, and says why', async () => {
    // Thinking cannot be turned off here (the server refuses the field): probes open a thinking block.
    fake = await startFakeOpenAI({
      model,
      ollama: { version: '0.9.0', thinking: true, refusesReasoningEffort: true },
    });
    const engine = createEngine(loadConfig({ ENGINE_URL: fake.url, ENGINE_MODEL: model }), {
      logger: silentLogger,
    });
    const first = await engine.infer(await input(), AbortSignal.timeout(5000));
    expect(first.findings[0]!.confidence.source).toBe('model-stated');
    const probesBefore = fake.requests.filter((r) => r.kind === 'probe').length;
    expect(probesBefore).toBeGreaterThan(0);
    const second = await engine.infer(await input(), AbortSignal.timeout(5000));
    expect(second.findings[0]!.confidence.source).toBe('model-stated');
    expect(fake.requests.filter((r) => r.kind === 'probe')).toHaveLength(probesBefore);
    const health = await engine.health();
    expect(health.ok).toBe(true);
    expect(health.detail).toContain('thinking model');
  });

  it('doctor says why confidences are model-stated and what to serve instead', async () => {
    fake = await startFakeOpenAI({
      model,
      ollama: { version: '0.9.0', thinking: true, refusesReasoningEffort: true },
    });
    const out: string[] = [];
    const code = await runDoctor(
      loadConfig({ ENGINE_URL: fake.url, ENGINE_MODEL: model, DATA_DIR: '/tmp' }),
      { out: (line) => out.push(line), err: () => undefined },
    );
    expect(code).toBe(1);
    const text = out.join('\n');
    expect(text).toMatch(/✗ confidence: yes\/no probes do not work: .*thinking model/);
    expect(text).toContain('qwen3-vl:8b-instruct');
  });

  it('doctor passes the confidence check when probes answer', async () => {
    fake = await startFakeOpenAI({ model, ollama: { version: '0.12.6', thinking: true } });
    const out: string[] = [];
    await runDoctor(loadConfig({ ENGINE_URL: fake.url, ENGINE_MODEL: model, DATA_DIR: '/tmp' }), {
      out: (line) => out.push(line),
      err: () => undefined,
    });
    expect(out.join('\n')).toContain('✓ confidence: yes/no probes answer');
  });
});
