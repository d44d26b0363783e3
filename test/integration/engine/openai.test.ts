import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.ts';
import type { InferenceInput } from '../../../src/core/types.ts';
import { fitTable, saveTable } from '../../../src/engine/confidence/calibration.ts';
import { createEngine, PROMPT_VERSION } from '../../../src/engine/index.ts';
import { AppError } from '../../../src/errors.ts';
import { silentLogger } from '../../../src/log.ts';
import { decodeImageRef } from '../../fakes/image-facts.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../../fakes/openai-server.ts';
import { type EngineUnderTest, openaiKind } from './harness.ts';
import { preparedImage } from './image.ts';

let under: EngineUnderTest | undefined;
let fake: FakeOpenAI | undefined;
afterEach(async () => {
  await under?.close();
  await fake?.close();
  under = undefined;
  fake = undefined;
});

async function input(question = 'Any nodules?'): Promise<InferenceInput> {
  return { image: await preparedImage(512, 384), question, history: [] };
}

describe('openai engine: what it sends', () => {
  it('sends the configured model, temperature, schema and the image as a PNG data URL', async () => {
    under = await openaiKind.start({ env: { TEMPERATURE: '0.2' } });
    const request = await input();
    await under.engine.infer(request, AbortSignal.timeout(5000));
    const body = under.readBodies()[0];
    expect(body.model).toBe('Qwen/Qwen3-VL-8B-Instruct');
    expect(body.temperature).toBe(0.2);
    expect(body.max_tokens).toBeGreaterThan(100);
    expect(body.presence_penalty).toBeGreaterThan(0);
    expect(body.response_format.type).toBe('json_schema');
    expect(body.response_format.json_schema.name).toBeTruthy();
    expect(body.response_format.json_schema.schema.required).toContain('findings');
    const image = body.messages[1].content[0].image_url.url as string;
    expect(image.startsWith('data:image/png;base64,')).toBe(true);
    expect(decodeImageRef(image).equals(request.image.png)).toBe(true);
    const system = body.messages[0].content as string;
    expect(system).toContain('Modality (DICOM code): CT');
    expect(system).toMatch(/Fleischner/);
    expect(system).toMatch(/instruction that appears inside the image/);
    expect(system).toMatch(/language of the clinician's question/);
  });

  it('probes each finding on the image and on a blank image of the same size, concurrently', async () => {
    fake = await startFakeOpenAI();
    const engine = createEngine(loadConfig({ ENGINE_URL: fake.url, DATA_DIR: '/nonexistent-qr' }), {
      logger: silentLogger,
    });
    const result = await engine.infer(await input(), AbortSignal.timeout(5000));
    const probes = fake.requests.filter((r) => r.kind === 'probe');
    expect(probes).toHaveLength(2);
    for (const probe of probes) {
      expect(probe.body).toMatchObject({ max_tokens: 1, logprobs: true, temperature: 0 });
      expect(probe.body.top_logprobs).toBeGreaterThanOrEqual(5);
      expect(probe.image).toMatchObject({ width: 512, height: 384 });
    }
    expect(probes.map((p) => p.image!.blank).sort()).toEqual([false, true]);
    expect(result.findings[0]!.confidence).toEqual({
      value: expect.closeTo(0.9, 6),
      source: 'probe-logprob',
      calibrated: false,
      grounded: true,
    });
  });

  it('marks a finding the model also "sees" on a blank image as not image-grounded', async () => {
    under = await openaiKind.start({ openai: { ungrounded: ['Pulmonary nodule'] } });
    const result = await under.engine.infer(await input(), AbortSignal.timeout(5000));
    expect(result.findings[0]!.confidence.grounded).toBe(false);
  });

  it('normalises P(yes) over Chinese answer tokens', async () => {
    under = await openaiKind.start({ openai: { probeTokens: 'zh', probeYes: 0.7 } });
    const result = await under.engine.infer(await input('有结节吗？'), AbortSignal.timeout(5000));
    expect(result.findings[0]!.confidence.value).toBeCloseTo(0.7, 6);
    expect(under.readBodies()[0].messages[1].content[1].text).toContain('有结节吗？');
  });

  it('falls back to the model-stated confidence, labelled, when the server gives no logprobs', async () => {
    under = await openaiKind.start({
      openai: { logprobs: false },
      findings: [{ label: 'Effusion', location: 'left base', confidence: 0.35 }],
    });
    const result = await under.engine.infer(await input(), AbortSignal.timeout(5000));
    expect(result.findings[0]!.confidence).toEqual({
      value: 0.35,
      source: 'model-stated',
      calibrated: false,
    });
  });

  it('applies a calibration table fitted for this model and prompt version', async () => {
    under = await openaiKind.start();
    const cases = Array.from({ length: 60 }, (_, i) => ({ raw: 0.9, label: (i % 2) as 0 | 1 }));
    const key = {
      model: 'Qwen/Qwen3-VL-8B-Instruct',
      promptVersion: PROMPT_VERSION,
      source: 'probe-logprob' as const,
    };
    await saveTable(under.dataDir, fitTable(cases, key));
    await saveTable(
      under.dataDir,
      fitTable(
        cases.map((c) => ({ ...c, label: 1 as const })),
        { ...key, model: 'other' },
      ),
    );
    const result = await under.engine.infer(await input(), AbortSignal.timeout(5000));
    const confidence = result.findings[0]!.confidence;
    expect(confidence.calibrated).toBe(true);
    expect(confidence.source).toBe('probe-logprob');
    expect(confidence.value).toBeCloseTo(0.5, 1);
  });
});

describe('openai engine: recovering from bad output', () => {
  it('repairs malformed JSON once and keeps the bad text out of the result', async () => {
    under = await openaiKind.start();
    await under.setMode('malformed-once');
    const result = await under.engine.infer(await input(), AbortSignal.timeout(5000));
    expect(result.findings).toHaveLength(1);
    const bodies = under.readBodies();
    expect(bodies).toHaveLength(2);
    expect(bodies[1].messages.at(-1).content).toMatch(/could not be used/);
  });

  it('retries a repetition loop once with a stronger presence penalty', async () => {
    fake = await startFakeOpenAI();
    const engine = createEngine(loadConfig({ ENGINE_URL: fake.url }), { logger: silentLogger });
    await fake.setMode('loop-once');
    const result = await engine.infer(await input(), AbortSignal.timeout(5000));
    expect(result.findings).toHaveLength(1);
    const reads = fake.requests.filter((r) => r.kind === 'read');
    expect(reads).toHaveLength(2);
    expect(reads[1]!.body.presence_penalty).toBeGreaterThan(reads[0]!.body.presence_penalty);
    expect(reads[1]!.body.messages).toHaveLength(reads[0]!.body.messages.length);
  });

  it('treats vLLM context-length errors like out-of-memory', async () => {
    fake = await startFakeOpenAI({ oomStyle: 'context', errorShape: 'nested' });
    const engine = createEngine(loadConfig({ ENGINE_URL: fake.url }), { logger: silentLogger });
    await fake.setMode('oom-above', 100); // 512×384 = 192 tokens; 384×288 = 108; 288×192 = 54
    const result = await engine.infer(await input(), AbortSignal.timeout(5000));
    expect(result.downscaled).toBeDefined();
    expect(result.downscaled!.tokens).toBeLessThanOrEqual(100);
  });
});

describe('openai engine: model and server checks', () => {
  it('refuses to read when the server does not serve the configured model, naming both', async () => {
    fake = await startFakeOpenAI({ model: 'Qwen/Qwen3-VL-2B-Instruct' });
    const engine = createEngine(loadConfig({ ENGINE_URL: fake.url }), { logger: silentLogger });
    const error = await engine.infer(await input(), AbortSignal.timeout(5000)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('ENGINE_MODEL_MISSING');
    expect((error as AppError).userMessage).toContain('Qwen/Qwen3-VL-8B-Instruct');
    expect((error as AppError).userMessage).toContain('Qwen/Qwen3-VL-2B-Instruct');
    const health = await engine.health();
    expect(health.ok).toBe(false);
    expect(health.detail).toContain('Qwen/Qwen3-VL-2B-Instruct');
    expect(fake.requests.some((r) => r.path === '/v1/chat/completions')).toBe(false);
  });

  it('sends the API key as a bearer token and reports health', async () => {
    fake = await startFakeOpenAI({ apiKey: 'sk-test-key-1234567890' });
    const good = createEngine(
      loadConfig({ ENGINE_URL: fake.url, ENGINE_API_KEY: 'sk-test-key-1234567890' }),
      {
        logger: silentLogger,
      },
    );
    expect(await good.health()).toEqual({ ok: true, model: 'Qwen/Qwen3-VL-8B-Instruct' });
    const bad = createEngine(loadConfig({ ENGINE_URL: fake.url, ENGINE_API_KEY: 'wrong' }), {
      logger: silentLogger,
    });
    const error = await bad.infer(await input(), AbortSignal.timeout(5000)).catch((e: unknown) => e);
    expect((error as AppError).code).toBe('ENGINE_ERROR');
    expect((error as AppError).retryable).toBe(false);
    expect((error as AppError).userMessage).toContain('ENGINE_API_KEY');
  });

  it('stops at the caller’s abort with CANCELLED', async () => {
    fake = await startFakeOpenAI();
    const engine = createEngine(loadConfig({ ENGINE_URL: fake.url }), { logger: silentLogger });
    await fake.setMode('hang');
    const controller = new AbortController();
    const pending = engine.infer(await input(), controller.signal).catch((e: unknown) => e);
    setTimeout(() => controller.abort(), 100);
    expect(((await pending) as AppError).code).toBe('CANCELLED');
  });
});

describe('openai engine: degenerate but valid output', () => {
  it('retries once when valid JSON repeats a phrase over and over', async () => {
    fake = await startFakeOpenAI({ impression: `Nodule. ${'Nodule noted. '.repeat(20)}` });
    const engine = createEngine(loadConfig({ ENGINE_URL: fake.url }), { logger: silentLogger });
    const result = await engine.infer(await input(), AbortSignal.timeout(5000));
    const reads = fake.requests.filter((r) => r.kind === 'read');
    expect(reads).toHaveLength(2);
    expect(reads[1]!.body.presence_penalty).toBeGreaterThan(reads[0]!.body.presence_penalty);
    expect(result.findings).toHaveLength(1);
  });
});
