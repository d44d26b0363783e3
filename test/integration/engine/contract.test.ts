import { afterEach, describe, expect, it } from 'vitest';
import type { InferenceInput } from '../../../src/core/types.ts';
import { PROMPT_VERSION } from '../../../src/engine/index.ts';
import { AppError } from '../../../src/errors.ts';
import { type EngineKind, type EngineUnderTest, openaiKind, visualqaKind } from './harness.ts';
import { preparedImage } from './image.ts';

/**
 * The engine contract: the same behaviour from every engine, each against a loopback fake that speaks
 * its real protocol. Failures must come back as the agreed AppError codes.
 */

async function input(width = 512, height = 512, blank = false): Promise<InferenceInput> {
  return { image: await preparedImage(width, height, { blank }), question: 'Any nodules?', history: [] };
}

async function failure(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return error as AppError;
  }
  throw new Error('expected the call to fail');
}

describe.each<EngineKind>([openaiKind, visualqaKind])('engine contract: $name', (kind) => {
  let under: EngineUnderTest | undefined;
  const start = async (options?: Parameters<EngineKind['start']>[0]) => {
    under = await kind.start(options);
    return under;
  };
  afterEach(async () => {
    await under?.close();
    under = undefined;
  });

  it('reads an image into findings whose confidence names its source', async () => {
    const { engine, readImages } = await start();
    const result = await engine.infer(await input(), AbortSignal.timeout(5000));
    expect(result.engineId).toBe(kind.name);
    expect(result.promptVersion).toBe(PROMPT_VERSION);
    expect(result.model).toBe('Qwen/Qwen3-VL-8B-Instruct');
    expect(result.findings).toHaveLength(1);
    const [finding] = result.findings;
    expect(finding).toMatchObject({ label: 'Pulmonary nodule', location: 'right upper lobe', sizeMm: 8 });
    expect(finding!.confidence.source).toBe(kind.source);
    expect(finding!.confidence.calibrated).toBe(false);
    expect(finding!.confidence.value).toBeGreaterThan(0.5);
    expect(result.urgency).toBe('routine');
    expect(result.tokens.image).toBe(256);
    expect(result.downscaled).toBeUndefined();
    expect(readImages()[0]).toMatchObject({ width: 512, height: 512, blank: false });
  });

  it('reports no findings for a blank image', async () => {
    const { engine } = await start();
    const result = await engine.infer(await input(256, 256, true), AbortSignal.timeout(5000));
    expect(result.findings).toEqual([]);
    expect(result.impression).toMatch(/no anatomy/);
  });

  it('says the engine is unavailable, retryably, when the port refuses connections', async () => {
    const { engine, setMode } = await start();
    await setMode('down');
    const error = await failure(engine.infer(await input(), AbortSignal.timeout(5000)));
    expect(error.code).toBe('ENGINE_UNAVAILABLE');
    expect(error.retryable).toBe(true);
    expect((await engine.health()).ok).toBe(false);
  });

  it('waits what Retry-After says after a 503, then reads', async () => {
    const { engine, setMode, delays } = await start();
    await setMode('503-once', 2);
    const result = await engine.infer(await input(), AbortSignal.timeout(5000));
    expect(result.findings).toHaveLength(1);
    expect(delays).toHaveLength(1);
    expect(delays[0]).toBeGreaterThanOrEqual(2000);
    expect(delays[0]).toBeLessThan(2100);
  });

  it('shrinks the image after out-of-memory until it fits, never the same size twice', async () => {
    const { engine, setMode, readImages } = await start();
    await setMode('oom-above', 300); // 1024² = 1024 tokens; 768² = 576; 576² = 324; 416² = 169
    const result = await engine.infer(await input(1024, 1024), AbortSignal.timeout(10_000));
    const sides = readImages().map((image) => image.width);
    expect(sides[0]).toBe(1024);
    for (let i = 1; i < sides.length; i++) expect(sides[i]).toBeLessThan(sides[i - 1]!);
    expect(result.downscaled).toBeDefined();
    expect(result.downscaled!.tokens).toBeLessThanOrEqual(300);
    expect(result.downscaled!.width).toBe(sides.at(-1));
    expect(result.tokens.image).toBe(result.downscaled!.tokens);
  });

  it('gives up with IMAGE_TOO_LARGE_FOR_ENGINE when even the floor does not fit', async () => {
    const { engine, setMode, readImages } = await start();
    await setMode('oom-above', 10);
    const error = await failure(engine.infer(await input(1024, 1024), AbortSignal.timeout(10_000)));
    expect(error.code).toBe('IMAGE_TOO_LARGE_FOR_ENGINE');
    const sides = readImages().map((image) => image.width);
    expect(new Set(sides).size).toBe(sides.length);
    expect(Math.min(...sides)).toBeGreaterThanOrEqual(256);
  });

  it('aborts a request that hangs with ENGINE_TIMEOUT', async () => {
    const { engine, setMode } = await start({ timeoutMs: 300 });
    await setMode('hang');
    const error = await failure(engine.infer(await input(), AbortSignal.timeout(5000)));
    expect(error.code).toBe('ENGINE_TIMEOUT');
    expect(error.retryable).toBe(true);
  });

  it('refuses unusable output with MODEL_OUTPUT_INVALID after one retry, never showing raw text', async () => {
    const { engine, setMode, readBodies } = await start();
    await setMode('malformed');
    const error = await failure(engine.infer(await input(), AbortSignal.timeout(5000)));
    expect(error.code).toBe('MODEL_OUTPUT_INVALID');
    expect(error.userMessage).not.toMatch(/right upper|findings/);
    expect(readBodies()).toHaveLength(2);
  });

  it('sends the earlier turns of a thread with a follow-up', async () => {
    const { engine, readBodies } = await start();
    const first = await input();
    await engine.infer(
      {
        ...first,
        question: 'How big is it?',
        history: [
          { role: 'user', text: 'Any nodules?' },
          { role: 'assistant', text: 'One right upper lobe nodule.' },
        ],
      },
      AbortSignal.timeout(5000),
    );
    const sent = JSON.stringify(readBodies()[0]);
    expect(sent).toContain('Any nodules?');
    expect(sent).toContain('One right upper lobe nodule.');
    expect(sent).toContain('How big is it?');
  });
});
