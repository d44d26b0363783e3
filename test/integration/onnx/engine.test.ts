import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.ts';
import type { Engine, PreparedImage } from '../../../src/core/types.ts';
import { createEngine } from '../../../src/engine/index.ts';
import { createOnnxEngine } from '../../../src/engine/onnx/index.ts';
import { loadRuntime } from '../../../src/engine/onnx/runtime.ts';
import { silentLogger } from '../../../src/log.ts';
import { captureLogger } from '../../helpers/capture-log.ts';
import {
  buildTinyQwen3Vl,
  SCRIPT,
  scriptedTokenProbability,
  scriptedYesProbability,
} from '../../helpers/tiny-qwen3vl/index.ts';

/**
 * The whole in-process path for real on CPU: transformers.js loads a tiny Qwen3-VL export written by
 * the test helper (same file layout, processor and tokenizer files), the Qwen image processor cuts the
 * PNG into patches, onnxruntime runs the three sessions, and the engine validates, probes and scores.
 */

async function image(side = 64): Promise<PreparedImage> {
  const png = await sharp({
    create: { width: side, height: side, channels: 3, background: { r: 200, g: 60, b: 30 } },
  })
    .png()
    .toBuffer();
  return {
    png,
    width: side,
    height: side,
    tokens: (side / 32) ** 2,
    sha256: createHash('sha256').update(png).digest('hex'),
    meta: { modality: 'CT', bodyPart: 'CHEST' },
    deid: { removedTags: 0, burnedInAnnotation: false, identityPresent: false },
    window: { center: 40, width: 400, source: 'none', reason: 'test' },
    source: { kind: 'png', rows: side, columns: side, frames: 1, frameIndex: 1 },
  };
}

let dataDir: string;
const config = (modelDir: string) =>
  loadConfig({
    ENGINE: 'onnx',
    MODEL_DIR: modelDir,
    ONNX_DEVICE: 'cpu',
    ONNX_DTYPE: 'q8',
    DATA_DIR: dataDir,
    TEMPERATURE: '0',
  });

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'qr-onnx-data-'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('ENGINE=onnx on a tiny Qwen3-VL export (CPU)', () => {
  let engine: Engine;
  beforeAll(async () => {
    const dir = await buildTinyQwen3Vl({ kind: 'scripted' });
    engine = createEngine(config(dir), { logger: silentLogger });
  });
  afterAll(async () => {
    await engine.close?.();
  });

  it('loads through createEngine, reads with the schema and scores findings by yes/no probe', async () => {
    const health = await engine.health();
    expect(health.ok).toBe(true);
    const result = await engine.infer(
      { image: await image(), question: 'Any nodule?', history: [] },
      AbortSignal.timeout(20_000),
    );
    expect(result.engineId).toBe('onnx');
    expect(result.findings).toHaveLength(1);
    const finding = result.findings[0]!;
    expect(finding.label).toBe(SCRIPT[1]);
    expect(finding.location).toBe(SCRIPT[3]);
    expect(finding.severity).toBe('mild');
    expect(result.urgency).toBe('routine');
    expect(result.recommendations).toEqual([SCRIPT[7]]);
    // The probe: P(yes) over yes/no from the logits; the model ignores the image, so the blank-image
    // probe says the same and the finding is not grounded.
    expect(finding.confidence.source).toBe('probe-logprob');
    expect(finding.confidence.value).toBeCloseTo(scriptedYesProbability(), 5);
    expect(finding.confidence.grounded).toBe(false);
    // Usage: every scripted token plus <|im_end|>; the prompt includes the 4 image tokens of 64×64 px.
    expect(result.tokens.completion).toBe(SCRIPT.length + 1);
    expect(result.tokens.image).toBe(4);
    expect(result.tokens.prompt).toBeGreaterThan(100);
  });

  it('reads a study as one labelled montage (the runtime feeds one image)', async () => {
    const [a, b] = [await image(), await image()];
    const study = [
      { ...a, label: 'Image 1 of 2: CT' },
      { ...b, label: 'Image 2 of 2: CT' },
    ];
    const result = await engine.infer(
      { image: study[0]!, study, question: 'Any nodule?', history: [] },
      AbortSignal.timeout(20_000),
    );
    // Two 64-px tiles side by side on the 32-px grid: one 128×64 picture, 8 visual tokens.
    expect(result.tokens.image).toBe(8);
    expect(result.images?.map((one) => one.label)).toEqual(['Image 1 of 2: CT', 'Image 2 of 2: CT']);
  });

  it('probes findings the caller names, on the image and on a blank one (quickread eval)', async () => {
    const outcomes = await engine.probe!(
      { image: await image(), findings: ['pneumothorax', 'pleural effusion'] },
      AbortSignal.timeout(20_000),
    );
    // The scripted model answers every probe alike, with or without the image.
    expect(outcomes).toHaveLength(2);
    for (const outcome of outcomes) {
      expect(outcome.real).toBeCloseTo(scriptedYesProbability(), 5);
      expect(outcome.blank).toBeCloseTo(scriptedYesProbability(), 5);
    }
  });

  it('sends the thread history on a follow-up (a longer prompt) and still answers', async () => {
    const first = await engine.infer(
      { image: await image(), question: 'Any nodule?', history: [] },
      AbortSignal.timeout(20_000),
    );
    const followUp = await engine.infer(
      {
        image: await image(),
        question: 'How big is it?',
        history: [
          { role: 'user', text: 'Any nodule?' },
          { role: 'assistant', text: 'Small right upper lobe nodule.' },
        ],
      },
      AbortSignal.timeout(20_000),
    );
    expect(followUp.tokens.prompt).toBeGreaterThan(
      first.tokens.prompt + 'Small right upper lobe nodule.'.length,
    );
    expect(followUp.findings[0]?.label).toBe(SCRIPT[1]);
  });

  it('runs one read at a time even when called concurrently', async () => {
    const results = await Promise.all(
      [1, 2, 3].map(async () => {
        return engine.infer(
          { image: await image(), question: 'Any nodule?', history: [] },
          AbortSignal.timeout(20_000),
        );
      }),
    );
    expect(results.map((r) => r.findings[0]?.label)).toEqual([SCRIPT[1], SCRIPT[1], SCRIPT[1]]);
  });

  it('stops with CANCELLED when the caller aborts', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(
      engine.infer({ image: await image(), question: 'Any nodule?', history: [] }, controller.signal),
    ).rejects.toMatchObject({ code: 'CANCELLED' });
  });
});

describe('token-probability confidence', () => {
  it('scores each finding from the probabilities of its label tokens when the probe cannot answer', async () => {
    // A vocabulary with no yes/no tokens: the probe has nothing to read, so the label's tokens speak.
    const dir = await buildTinyQwen3Vl({ kind: 'scripted', yesNo: false });
    const engine = await createOnnxEngine(config(dir), { logger: silentLogger });
    const result = await engine.infer(
      { image: await image(), question: 'Any nodule?', history: [] },
      AbortSignal.timeout(20_000),
    );
    const confidence = result.findings[0]!.confidence;
    expect(confidence.source).toBe('token-logprob');
    expect(confidence.calibrated).toBe(false);
    expect(confidence.value).toBeCloseTo(scriptedTokenProbability(false), 5);
    expect(confidence.value).toBeLessThan(1);
    await engine.close?.();
  });
});

describe('random weights', () => {
  it('ends in MODEL_OUTPUT_INVALID after exactly one repair attempt', async () => {
    const dir = await buildTinyQwen3Vl({ kind: 'random' });
    const { logger, lines } = captureLogger('warn');
    const engine = await createOnnxEngine(config(dir), { logger, maxNewTokens: 12 });
    await expect(
      engine.infer(
        { image: await image(), question: 'Any nodule?', history: [] },
        AbortSignal.timeout(20_000),
      ),
    ).rejects.toMatchObject({ code: 'MODEL_OUTPUT_INVALID' });
    const repairs = lines().filter((line) => line.includes('asking for a repair'));
    expect(repairs).toHaveLength(1);
    await engine.close?.();
  });
});

describe('JSON frame on real generation', () => {
  it('makes even random weights open their answer with "{" and stop when the object closes', async () => {
    const dir = await buildTinyQwen3Vl({ kind: 'random' });
    const runtime = await loadRuntime(config(dir), { logger: silentLogger });
    const messages = [
      {
        role: 'user' as const,
        content: [
          { type: 'image_url' as const, image_url: { url: 'data:' } },
          { type: 'text' as const, text: 'Any nodule?' },
        ],
      },
    ];
    const request = {
      messages,
      png: (await image()).png,
      maxNewTokens: 40,
      temperature: 0,
      signal: new AbortController().signal,
      timeoutMs: 20_000,
    };
    const free = await runtime.generate(request);
    const framed = await runtime.generate({ ...request, json: true });
    expect(free.text.trimStart().startsWith('{')).toBe(false);
    expect(framed.text.trimStart().startsWith('{')).toBe(true);
    // Same weights, same prompt: the frame changed the output, and every token was scored.
    expect(framed.tokens).toHaveLength(framed.usage.completion - (framed.finish === 'stop' ? 1 : 0));
    await runtime.close();
  });
});

describe('timeout', () => {
  it('a generation running past ENGINE_TIMEOUT_MS stops between tokens with ENGINE_TIMEOUT', async () => {
    const dir = await buildTinyQwen3Vl({ kind: 'random' });
    const engine = await createOnnxEngine(
      loadConfig({
        ENGINE: 'onnx',
        MODEL_DIR: dir,
        ONNX_DEVICE: 'cpu',
        DATA_DIR: dataDir,
        ENGINE_TIMEOUT_MS: '30',
      }),
      { logger: silentLogger, maxNewTokens: 1_000_000 },
    );
    const started = Date.now();
    await expect(
      engine.infer(
        { image: await image(), question: 'Any nodule?', history: [] },
        AbortSignal.timeout(20_000),
      ),
    ).rejects.toMatchObject({ code: 'ENGINE_TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(10_000);
    await engine.close?.();
  });
});
