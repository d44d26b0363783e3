import type { Config } from '../../config.ts';
import type {
  Engine,
  EngineHealth,
  InferenceInput,
  InferenceResult,
  ProbeInput,
  ProbeOutcome,
} from '../../core/types.ts';
import { AppError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { blankPng, yesProbability } from '../confidence/probe.ts';
import { probeMessages } from '../openai/messages.ts';
import { defaultPrompts, type PromptSet } from '../prompts.ts';
import { createNamedProbe, createReadLoop } from '../read-loop.ts';
import { tokenConfidences } from './confidence.ts';
import { manifestRepo } from './files.ts';
import { type Generation, loadRuntime, type OnnxRuntime } from './runtime.ts';

/**
 * ENGINE=onnx: the vision-language model inside quickread (one GPU box, no model server). The same
 * read loop as the HTTP engines (read-loop.ts: prompts, zod validation with one repair turn, the loop
 * retry, the out-of-memory ladder, yes/no probes on the image and on a blank one), with confidences
 * read from the logits where a probe gives none. One generation at a time in the process: a second read on the same GPU would
 * only double the memory and halve the speed of both.
 */

export const READ_MAX_TOKENS = 1500;
const LOOP_RETRY_REPETITION_PENALTY = 1.15;
const WARMUP_SIDE = 64;
/** The first run builds kernels and arenas (slow on a cold GPU); reads keep ENGINE_TIMEOUT_MS. */
const WARMUP_TIMEOUT_MS = 600_000;

export interface OnnxEngineDeps {
  logger: Logger;
  prompts?: PromptSet;
  clock?: () => number;
  floorPx?: number;
  /** Tests shrink the completion cap; the product uses READ_MAX_TOKENS. */
  maxNewTokens?: number;
  /** Where onnxruntime-node's native libraries live (tests point it at an empty folder). */
  ortBinDir?: string;
  /** Already-loaded runtime (tests); normally loaded from MODEL_DIR. */
  runtime?: OnnxRuntime;
}

/** Run one task at a time, in call order; a failed task does not block the next. */
export function serialise(): <T>(task: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(task: () => Promise<T>) => {
    const run = tail.then(task, task);
    tail = run.catch(() => undefined);
    return run;
  };
}

export async function createOnnxEngine(config: Config, deps: OnnxEngineDeps): Promise<Engine> {
  const prompts = deps.prompts ?? defaultPrompts();
  const clock = deps.clock ?? Date.now;
  const maxNewTokens = deps.maxNewTokens ?? READ_MAX_TOKENS;
  if (config.ENGINE_CONCURRENCY > 1) {
    deps.logger.warn(
      { configured: config.ENGINE_CONCURRENCY },
      'ENGINE=onnx runs one read at a time in process; ENGINE_CONCURRENCY is treated as 1',
    );
  }
  const runtime =
    deps.runtime ??
    (await loadRuntime(config, {
      logger: deps.logger,
      ...(deps.ortBinDir ? { ortBinDir: deps.ortBinDir } : {}),
    }));
  const model = `${manifestRepo(config.MODEL_DIR) ?? runtime.name}:${config.ONNX_DTYPE}`;
  const exclusive = serialise();

  // Warm-up: the first run of each session allocates its arena and picks kernels; pay that at start.
  const warmStarted = clock();
  await runtime.generate({
    messages: probeMessages(prompts, await blankPng(WARMUP_SIDE, WARMUP_SIDE, 3), 'warm-up'),
    png: await blankPng(WARMUP_SIDE, WARMUP_SIDE, 3),
    maxNewTokens: 1,
    temperature: 0,
    signal: new AbortController().signal,
    timeoutMs: WARMUP_TIMEOUT_MS,
  });
  deps.logger.info(
    { engine: 'onnx', device: config.ONNX_DEVICE, dtype: config.ONNX_DTYPE, warmupMs: clock() - warmStarted },
    'onnx engine ready',
  );

  const probe = async (png: Buffer, finding: string, signal: AbortSignal) => {
    const answer = await runtime.generate({
      messages: probeMessages(prompts, png, finding),
      png,
      maxNewTokens: 1,
      temperature: 0,
      signal,
      timeoutMs: config.ENGINE_TIMEOUT_MS,
      probe: true,
    });
    return answer.firstTop ? yesProbability(answer.firstTop) : undefined;
  };

  const probeNamed = createNamedProbe({ probe, probeConcurrency: 1 });
  const read = createReadLoop<Generation>(
    {
      engineId: 'onnx',
      model,
      prompts,
      logger: deps.logger,
      clock,
      dataDir: config.DATA_DIR,
      temperature: config.TEMPERATURE,
      // The runtime feeds one image: a study arrives as one labelled montage (issue 17).
      maxSide: config.MAX_IMAGE_SIZE,
      ...(deps.floorPx ? { floorPx: deps.floorPx } : {}),
    },
    {
      generate: (messages, image, { temperature, loopRetry }, signal) =>
        runtime.generate({
          messages,
          png: image.png,
          maxNewTokens,
          temperature,
          signal,
          timeoutMs: config.ENGINE_TIMEOUT_MS,
          json: true,
          ...(loopRetry ? { repetitionPenalty: LOOP_RETRY_REPETITION_PENALTY } : {}),
        }),
      probe,
      // One generation at a time on the GPU: probes run one after the other.
      probeConcurrency: 1,
      // Where a probe gave nothing, the read's own token probabilities do.
      ownConfidences: (generated, modelRead) => tokenConfidences(generated.tokens, modelRead),
    },
  );

  return {
    id: 'onnx',
    model,
    async health(): Promise<EngineHealth> {
      return { ok: true, model, detail: `in process on ${config.ONNX_DEVICE} (${config.ONNX_DTYPE})` };
    },
    probe(input: ProbeInput, signal: AbortSignal): Promise<ProbeOutcome[]> {
      // One generation at a time, like reads: the probes queue behind the read in flight.
      return exclusive(() => probeNamed(input, signal));
    },
    infer(input: InferenceInput, signal: AbortSignal): Promise<InferenceResult> {
      return exclusive(async () => {
        if (signal.aborted) throw new AppError('CANCELLED', 'read cancelled before it started');
        return read(input, signal);
      });
    },
    async close() {
      await exclusive(() => runtime.close());
    },
  };
}
