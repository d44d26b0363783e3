import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { runDoctor } from '../../../src/commands/doctor.ts';
import { loadConfig } from '../../../src/config.ts';
import type { InferenceInput } from '../../../src/core/types.ts';
import { createEngine } from '../../../src/engine/index.ts';
import type { AppError } from '../../../src/errors.ts';
import { silentLogger } from '../../../src/log.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../../fakes/openai-server.ts';
import { type FakeVisualQA, startFakeVisualQA } from '../../fakes/visualqa-server.ts';
import { captureLogger } from '../../helpers/capture-log.ts';
import { preparedImage } from './image.ts';

let fake: FakeOpenAI | undefined;
let vqa: FakeVisualQA | undefined;
afterEach(async () => {
  await fake?.close();
  await vqa?.close();
  fake = undefined;
  vqa = undefined;
});

async function input(question = 'Any nodules?'): Promise<InferenceInput> {
  return { image: await preparedImage(384, 384), question, history: [] };
}

const fastRetry = (delays: number[]) => ({
  retry: { attempts: 2, baseMs: 10, maxWaitMs: 1000 },
  sleep: async (ms: number) => {
    delays.push(ms);
  },
});

describe('busy servers', () => {
  it('stops retrying a server that stays at 503 and says when to come back', async () => {
    fake = await startFakeOpenAI();
    const delays: number[] = [];
    const engine = createEngine(loadConfig({ ENGINE_URL: fake.url }), {
      logger: silentLogger,
      ...fastRetry(delays),
    });
    await fake.setMode('503', 0);
    const error = (await engine
      .infer(await input(), AbortSignal.timeout(5000))
      .catch((e: unknown) => e)) as AppError;
    expect(error.code).toBe('ENGINE_UNAVAILABLE');
    expect(error.retryable).toBe(true);
    expect(error.retryAfterSec).toBe(0);
    expect(delays).toHaveLength(2);
    expect(fake.requests.filter((r) => r.kind === 'read')).toHaveLength(3);
  });

  it('retries a 429 after its Retry-After and then reads', async () => {
    fake = await startFakeOpenAI();
    const delays: number[] = [];
    const engine = createEngine(loadConfig({ ENGINE_URL: fake.url }), {
      logger: silentLogger,
      ...fastRetry(delays),
    });
    await fake.setMode('429-once', 1);
    const result = await engine.infer(await input(), AbortSignal.timeout(5000));
    expect(result.findings).toHaveLength(1);
    expect(delays[0]).toBeGreaterThanOrEqual(1000);
  });
});

describe('probes and follow-ups', () => {
  it('runs the probes of one read concurrently', async () => {
    fake = await startFakeOpenAI({
      delayMs: 40,
      findings: [
        { label: 'Pulmonary nodule', location: 'right upper lobe' },
        { label: 'Pleural effusion', location: 'left base' },
      ],
    });
    const engine = createEngine(loadConfig({ ENGINE_URL: fake.url }), { logger: silentLogger });
    const result = await engine.infer(await input(), AbortSignal.timeout(5000));
    expect(fake.requests.filter((r) => r.kind === 'probe')).toHaveLength(4);
    expect(fake.peakInFlight).toBe(4);
    expect(result.findings.map((f) => f.confidence.source)).toEqual(['probe-logprob', 'probe-logprob']);
  });

  it('sends a follow-up with the same image bytes and system prompt as the first read (prefix cache)', async () => {
    fake = await startFakeOpenAI();
    const engine = createEngine(loadConfig({ ENGINE_URL: fake.url }), { logger: silentLogger });
    const first = await input('Any nodules in the chest CT?');
    await engine.infer(first, AbortSignal.timeout(5000));
    await engine.infer(
      {
        ...first,
        question: 'Is it calcified?',
        history: [
          { role: 'user', text: 'Any nodules in the chest CT?' },
          { role: 'assistant', text: 'One nodule.' },
        ],
      },
      AbortSignal.timeout(5000),
    );
    const [a, b] = fake.requests.filter((r) => r.kind === 'read').map((r) => r.body.messages);
    expect(b[0]).toEqual(a[0]);
    expect(b[1]).toEqual(a[1]);
    expect(b.map((m: { role: string }) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(b[3].content).toContain('Is it calcified?');
  });

  it('logs no question text, image bytes or model text', async () => {
    fake = await startFakeOpenAI();
    const { logger, lines } = captureLogger();
    const engine = createEngine(loadConfig({ ENGINE_URL: fake.url }), { logger });
    await fake.setMode('malformed-once');
    await engine.infer(await input('Jane Doe, MRN 12345: nodule?'), AbortSignal.timeout(5000));
    const log = lines().join('\n');
    expect(log).toContain('read done');
    expect(log).not.toMatch(/Jane|12345|base64|right upper/);
  });
});

describe('health and doctor', () => {
  it('reports the error code of an unreachable engine', async () => {
    const engine = createEngine(loadConfig({ ENGINE_URL: 'http://127.0.0.1:9/v1' }), {
      logger: silentLogger,
    });
    expect(await engine.health()).toMatchObject({ ok: false, code: 'ENGINE_UNAVAILABLE' });
  });

  it('doctor checks a visualqa service and the prompts', async () => {
    vqa = await startFakeVisualQA();
    const out: string[] = [];
    const io = { out: (line: string) => out.push(line), err: (line: string) => out.push(line) };
    const dataDir = await mkdtemp(join(tmpdir(), 'qr-doctor-'));
    const up = await runDoctor(
      loadConfig({ ENGINE: 'visualqa', ENGINE_URL: vqa.url, DATA_DIR: dataDir }),
      io,
    );
    expect(out.join('\n')).toMatch(/✓ engine: visualqa service reachable/);
    expect(out.join('\n')).toMatch(/✓ prompts: radiologist@1/);
    expect(up).toBe(0);
    await vqa.setMode('down');
    out.length = 0;
    const down = await runDoctor(
      loadConfig({ ENGINE: 'visualqa', ENGINE_URL: vqa.url, DATA_DIR: dataDir }),
      io,
    );
    expect(down).toBe(1);
    expect(out.join('\n')).toMatch(/✗ engine: the visualqa service/);
    await rm(dataDir, { recursive: true, force: true });
  });

  it('builds ENGINE=onnx lazily, or refuses it with NOT_IMPLEMENTED while its module is absent', () => {
    const present = existsSync(fileURLToPath(new URL('../../../src/engine/onnx/index.ts', import.meta.url)));
    const build = () => createEngine(loadConfig({ ENGINE: 'onnx' }), { logger: silentLogger });
    if (present) {
      // The module is loaded on first use only: building must not load onnxruntime.
      expect(build().id).toBe('onnx');
    } else {
      expect(build).toThrow(expect.objectContaining({ code: 'NOT_IMPLEMENTED' }));
    }
  });
});
