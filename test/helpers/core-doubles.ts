import { createHash } from 'node:crypto';
import type { Engine, InferenceInput, InferenceResult, PreparedImage } from '../../src/core/types.ts';
import { AppError } from '../../src/errors.ts';

/** A prepared image built from the attachment's bytes (the core only stores and forwards it). */
export async function fakePrepare(
  bytes: Uint8Array,
  options: { question?: string } = {},
  extra: Partial<PreparedImage> = {},
): Promise<PreparedImage> {
  void options;
  const png = Buffer.from(bytes);
  return {
    png,
    width: 512,
    height: 512,
    tokens: 256,
    sha256: createHash('sha256').update(png).digest('hex'),
    meta: { modality: 'CT' },
    deid: { removedTags: 12, burnedInAnnotation: false, identityPresent: false },
    window: { center: 40, width: 400, source: 'preset', preset: 'soft-tissue', reason: 'test' },
    source: { kind: 'png', rows: 512, columns: 512, frames: 1, frameIndex: 1 },
    ...extra,
  };
}

export function resultFor(input: InferenceInput, overrides: Partial<InferenceResult> = {}): InferenceResult {
  return {
    findings: [
      {
        label: 'nodule',
        location: 'right upper lobe',
        sizeMm: 8,
        confidence: { value: 0.834, source: 'probe-logprob', calibrated: false, grounded: true },
      },
    ],
    impression: `read of ${input.image.sha256.slice(0, 8)}`,
    urgency: 'routine',
    recommendations: ['CT follow-up in 3 months'],
    engineId: 'test',
    model: 'test-model',
    promptVersion: 'radiologist@test',
    tokens: { prompt: 100, completion: 50, image: input.image.tokens },
    latencyMs: 5,
    ...overrides,
  };
}

/**
 * An in-test engine: answers at once, or holds each read until the test releases it; can be "down"
 * (ENGINE_UNAVAILABLE and failing health) like an unreachable vLLM.
 */
export function createTestEngine(options: { hold?: boolean } = {}) {
  const calls: InferenceInput[] = [];
  const pending: Array<{
    input: InferenceInput;
    resolve: (r: InferenceResult) => void;
    reject: (e: unknown) => void;
  }> = [];
  let down = false;
  let hold = options.hold ?? false;
  const engine: Engine & {
    calls: InferenceInput[];
    pending: typeof pending;
    setDown(value: boolean): void;
    setHold(value: boolean): void;
    releaseAll(): void;
  } = {
    id: 'test',
    model: 'test-model',
    calls,
    pending,
    setDown(value) {
      down = value;
    },
    setHold(value) {
      hold = value;
    },
    releaseAll() {
      for (const item of pending.splice(0)) item.resolve(resultFor(item.input));
    },
    async health() {
      return down ? { ok: false, detail: 'down' } : { ok: true, model: 'test-model' };
    },
    infer(input, signal) {
      calls.push(input);
      if (down) return Promise.reject(new AppError('ENGINE_UNAVAILABLE', 'test engine down'));
      if (!hold) return Promise.resolve(resultFor(input));
      return new Promise<InferenceResult>((resolve, reject) => {
        const item = { input, resolve, reject };
        pending.push(item);
        signal.addEventListener('abort', () => {
          const index = pending.indexOf(item);
          if (index >= 0) pending.splice(index, 1);
          reject(signal.reason ?? new AppError('CANCELLED', 'aborted'));
        });
      });
    },
  };
  return engine;
}
