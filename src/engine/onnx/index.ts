import type { Config } from '../../config.ts';
import type {
  Confidence,
  Engine,
  EngineHealth,
  InferenceInput,
  InferenceResult,
  PreparedImage,
  StudyImage,
} from '../../core/types.ts';
import { AppError, isAppError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { loadTables } from '../confidence/calibration.ts';
import { blankPng, describeFinding, probeConfidence, yesProbability } from '../confidence/probe.ts';
import { withImageLadder } from '../ladder.ts';
import { looksLikeLoop } from '../loop.ts';
import { probeMessages, readMessages } from '../openai/messages.ts';
import { type ModelRead, parseModelRead } from '../output.ts';
import { defaultPrompts, PROMPT_VERSION, type PromptSet, renderPrompt } from '../prompts.ts';
import { buildResult, type CalibrationTables, logRead } from '../result.ts';
import { asMontage, summarizeStudy } from '../study.ts';
import { tokenConfidences } from './confidence.ts';
import { manifestRepo } from './files.ts';
import { type Generation, loadRuntime, type OnnxRuntime } from './runtime.ts';

/**
 * ENGINE=onnx: the vision-language model inside quickread (one GPU box, no model server). Same
 * contract as the HTTP engines — prompts, zod validation with one repair turn, the loop retry, the
 * out-of-memory ladder, yes/no probes on the image and on a blank one — with confidences read from
 * the logits directly. One generation at a time in the process: a second read on the same GPU would
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
  let tables: Promise<CalibrationTables> | undefined;

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

  const structuredRead = async (
    image: PreparedImage,
    input: InferenceInput,
    signal: AbortSignal,
    study?: StudyImage[],
  ) => {
    const temperature = input.temperature ?? config.TEMPERATURE;
    // The runtime feeds one image: a study arrives as one labelled montage (issue 17).
    const subject = study ? { montage: image, images: study } : image;
    const messages = readMessages(prompts, subject, input.question, input.history);
    const usage = { prompt: 0, completion: 0 };
    let current = messages;
    let loopRetried = false;
    let repaired = false;
    let penalty: number | undefined;
    for (;;) {
      const answer: Generation = await runtime.generate({
        messages: current,
        png: image.png,
        maxNewTokens,
        temperature,
        signal,
        timeoutMs: config.ENGINE_TIMEOUT_MS,
        json: true,
        ...(penalty ? { repetitionPenalty: penalty } : {}),
      });
      usage.prompt += answer.usage.prompt;
      usage.completion += answer.usage.completion;
      const parsed = parseModelRead(answer.text);
      const looped = looksLikeLoop(answer.text, answer.finish);
      if (parsed.ok && (!looped || loopRetried)) return { read: parsed.read, usage, answer };
      if (looped && !loopRetried) {
        loopRetried = true;
        penalty = LOOP_RETRY_REPETITION_PENALTY;
        current = messages;
        deps.logger.warn({ finish: answer.finish }, 'model output looped; retrying once');
        continue;
      }
      if (parsed.ok) return { read: parsed.read, usage, answer };
      if (!repaired) {
        repaired = true;
        current = [
          ...messages,
          // The bad reply goes back to the model only, so it can correct itself; never to a user.
          { role: 'assistant', content: answer.text.slice(0, 4000) },
          { role: 'user', content: renderPrompt(prompts, 'repair', { problem: parsed.problem }) },
        ];
        deps.logger.warn({ problem: parsed.problem }, 'model output invalid; asking for a repair');
        continue;
      }
      throw new AppError('MODEL_OUTPUT_INVALID', `model output invalid after repair: ${parsed.problem}`);
    }
  };

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

  /** Probe each finding on the image and on a blank image of the same size, one run at a time. */
  const probeAll = async (image: PreparedImage, read: ModelRead, signal: AbortSignal) => {
    const out: Array<Confidence | undefined> = [];
    if (read.findings.length === 0) return out;
    const channels = image.png[25] === 0 || image.png[25] === 4 ? 1 : 3; // PNG IHDR colour type
    const blank = await blankPng(image.width, image.height, channels);
    try {
      for (const finding of read.findings) {
        const text = describeFinding(finding);
        const real = await probe(image.png, text, signal);
        const onBlank = await probe(blank, text, signal);
        out.push(probeConfidence({ real, blank: onBlank }));
      }
      return out;
    } catch (error) {
      if (isAppError(error, 'CANCELLED')) throw error;
      // Probes refine confidence; a failed probe must not fail a read that already succeeded.
      deps.logger.warn({ code: isAppError(error) ? error.code : 'unknown' }, 'confidence probes failed');
      return read.findings.map(() => undefined);
    }
  };

  return {
    id: 'onnx',
    model,
    async health(): Promise<EngineHealth> {
      return { ok: true, model, detail: `in process on ${config.ONNX_DEVICE} (${config.ONNX_DTYPE})` };
    },
    infer(input: InferenceInput, signal: AbortSignal): Promise<InferenceResult> {
      return exclusive(async () => {
        if (signal.aborted) throw new AppError('CANCELLED', 'read cancelled before it started');
        const startedAt = clock();
        tables ??= loadTables(config.DATA_DIR, model, PROMPT_VERSION);
        const { input: single, images: study } = await asMontage(input, config.MAX_IMAGE_SIZE);
        const outcome = await withImageLadder(
          single,
          (image) => structuredRead(image, single, signal, study),
          {
            logger: deps.logger,
            signal,
            ...(deps.floorPx ? { floorPx: deps.floorPx } : {}),
          },
        );
        const { read, usage, answer } = outcome.value;
        const probed = await probeAll(outcome.image, read, signal);
        const fromTokens = tokenConfidences(answer.tokens, read);
        const result = buildResult({
          read,
          confidences: read.findings.map((_, i) => probed[i] ?? fromTokens[i]),
          tables: await tables,
          engineId: 'onnx',
          model,
          promptVersion: PROMPT_VERSION,
          image: outcome.image,
          usage,
          startedAt,
          now: clock(),
          ...(outcome.downscaled ? { downscaled: outcome.downscaled } : {}),
        });
        return logRead(deps.logger, study ? { ...result, images: summarizeStudy(study) } : result);
      });
    },
    async close() {
      await exclusive(() => runtime.close());
    },
  };
}
