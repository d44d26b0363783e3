import type { Engine, InferenceInput, InferenceResult, PreparedImage } from '../../src/core/types.ts';
import type { SimRequest } from './sim-engine.ts';

/** One simulated read: what the model sees (image tokens) and how long its answer is. */
export interface BenchJob {
  id: string;
  channelId: string;
  userId: string;
  stat: boolean;
  request: SimRequest;
  /** When the job arrives, ms after the run starts. */
  arriveAtMs: number;
}

/** Minimal prepared image: the simulated engine only reads the token count. */
export const benchImage = (tokens: number): PreparedImage => ({
  png: Buffer.alloc(0),
  width: Math.round(Math.sqrt(tokens) * 32),
  height: Math.round(Math.sqrt(tokens) * 32),
  tokens,
  sha256: '0'.repeat(64),
  meta: {},
  deid: { removedTags: 0, burnedInAnnotation: false, identityPresent: false },
  window: { center: 0, width: 0, source: 'none', reason: 'bench' },
  source: { kind: 'png', rows: 1, columns: 1, frames: 1, frameIndex: 1 },
});

/** An Engine over the simulated server, used identically by the direct client and the dispatcher. */
export function createSimClient(url: string, outputTokens: Map<string, SimRequest>): Engine {
  return {
    id: 'sim',
    model: 'sim-qwen3-vl-8b',
    health: async () => ({ ok: true }),
    async infer(input: InferenceInput, signal: AbortSignal): Promise<InferenceResult> {
      const request = outputTokens.get(input.question)!;
      const response = await fetch(`${url}/infer`, {
        method: 'POST',
        body: JSON.stringify(request),
        headers: { 'content-type': 'application/json' },
        signal,
      });
      const body = (await response.json()) as { latencyMs: number };
      return {
        findings: [],
        impression: '',
        urgency: 'routine',
        recommendations: [],
        engineId: 'sim',
        model: 'sim-qwen3-vl-8b',
        promptVersion: 'bench@1',
        tokens: {
          prompt: request.promptTokens,
          completion: request.outputTokens,
          image: request.imageTokens,
        },
        latencyMs: body.latencyMs,
      };
    },
  };
}
