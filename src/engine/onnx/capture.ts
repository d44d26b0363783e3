import type { TopLogprob } from '../confidence/probe.ts';

/**
 * transformers.js's generate() returns token ids but no scores, so a logits processor placed last in
 * the chain records them: the log-probability of every chosen token (from the raw logits, before any
 * temperature) and, for a probe, the log-probabilities of the yes/no tokens at the first step. It also
 * applies the temperature itself (generate() runs with temperature 1) so the recorded distribution is
 * the model's own, and stops generation when the caller aborts.
 */

export interface CapturedToken {
  id: number;
  logprob: number;
}

export interface CaptureOptions {
  temperature: number;
  signal: AbortSignal;
  /** Token ids whose first-step log-probabilities the yes/no probe needs, with their text. */
  probeTokens?: ReadonlyArray<{ id: number; token: string }>;
  onAbort: () => Error;
}

interface LogitsLike {
  data: Float32Array | Float64Array;
  dims: number[];
}

export class LogitsCapture {
  readonly tokens: CapturedToken[] = [];
  firstTop: TopLogprob[] | undefined;
  private previous: Float32Array | undefined;
  private previousLse = 0;
  private readonly options: CaptureOptions;

  constructor(options: CaptureOptions) {
    this.options = options;
  }

  /** Called by the logits processor once per generated token, with batch size 1. */
  step(inputIds: ReadonlyArray<ReadonlyArray<bigint>>, logits: LogitsLike): void {
    if (this.options.signal.aborted) throw this.options.onAbort();
    const row = inputIds[0] ?? [];
    // The token chosen at the previous step is now the last input id.
    if (this.previous) this.record(Number(row[row.length - 1]));
    const vocab = logits.dims[logits.dims.length - 1] ?? logits.data.length;
    const raw = Float32Array.from(logits.data.subarray(0, vocab));
    this.previous = raw;
    this.previousLse = logSumExp(raw);
    if (this.firstTop === undefined && this.options.probeTokens) {
      this.firstTop = this.options.probeTokens.map(({ id, token }) => ({
        token,
        logprob: (raw[id] ?? Number.NEGATIVE_INFINITY) - this.previousLse,
      }));
    }
    const t = this.options.temperature;
    if (t > 0 && t !== 1) {
      for (let i = 0; i < logits.data.length; i++) logits.data[i] = (logits.data[i] as number) / t;
    }
  }

  /** Record the last chosen token (generate() appends it after the final processor call). */
  finish(lastId: number | undefined): void {
    if (this.previous && lastId !== undefined) this.record(lastId);
    this.previous = undefined;
  }

  private record(id: number): void {
    const logit = this.previous?.[id];
    if (logit === undefined) return;
    this.tokens.push({ id, logprob: logit - this.previousLse });
  }
}

export function logSumExp(values: ArrayLike<number>): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < values.length; i++) if ((values[i] as number) > max) max = values[i] as number;
  if (!Number.isFinite(max)) return max;
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += Math.exp((values[i] as number) - max);
  return max + Math.log(sum);
}
