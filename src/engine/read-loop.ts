import type {
  Confidence,
  InferenceInput,
  InferenceResult,
  PreparedImage,
  ProbeInput,
  ProbeOutcome,
  StudyImage,
} from '../core/types.ts';
import { AppError, isAppError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { loadTables } from './confidence/calibration.ts';
import {
  blankPng,
  describeFinding,
  mapLimit,
  probeConfidence,
  probeNamedFindings,
} from './confidence/probe.ts';
import { withImageLadder } from './ladder.ts';
import { looksLikeLoop } from './loop.ts';
import { type ChatMessage, type ReadSubject, readMessages } from './openai/messages.ts';
import { type ModelRead, parseModelRead } from './output.ts';
import { PROMPT_VERSION, type PromptSet, renderPrompt } from './prompts.ts';
import { buildResult, type CalibrationTables, logRead } from './result.ts';
import { studyOf } from './study.ts';
import { createStudyReader, subjectImage } from './study-read.ts';

/**
 * The one read loop every generating engine shares (issue 14): the out-of-memory ladder around a
 * structured read — a looping answer retried once with a stronger penalty, invalid JSON repaired once
 * — then yes/no probes per finding on the image and on a blank one, then the result with calibrated
 * confidences. An engine supplies only how to generate and how to probe.
 */

/** One generation, as the loop needs it. */
export interface Generated {
  text: string;
  /** 'length' when the completion cap cut it. */
  finish: string | null;
  usage: { prompt: number; completion: number };
}

export interface ReadBackend<G extends Generated> {
  /** A structured (JSON) read; `loopRetry` asks for the stronger anti-repetition setting. */
  generate(
    messages: ChatMessage[],
    image: PreparedImage,
    options: { temperature: number; loopRetry: boolean },
    signal: AbortSignal,
  ): Promise<G>;
  /**
   * P(yes) for "is <finding> present?" on this PNG (or, with `multiImage`, on every image of a study
   * under its label), or undefined when the engine cannot tell.
   */
  probe(png: ProbeImages, finding: string, signal: AbortSignal): Promise<number | undefined>;
  /** Takes several images in one request (issue 17); without it a study is read as one montage. */
  multiImage?: boolean;
  /** Probes in flight at once (1: one after the other). */
  probeConcurrency: number;
  /** False once the engine has shown it cannot probe (no logprobs): probes are skipped. */
  canProbe?(): boolean;
  /** A probe failed: the backend may decide never to probe again. */
  probeFailed?(error: unknown): void;
  /** Confidences from the read itself, used where a probe gave none (onnx: the token logits). */
  ownConfidences?(generated: G, read: ModelRead): Array<Confidence | undefined>;
}

export interface ReadLoopDeps {
  engineId: string;
  model: string;
  prompts: PromptSet;
  logger: Logger;
  clock: () => number;
  /** Where the calibration tables live (DATA_DIR). */
  dataDir: string;
  /** The temperature when a request names none. */
  temperature: number;
  floorPx?: number;
  /** MAX_IMAGE_SIZE: the most a study's montage may measure. */
  maxSide?: number;
}

/** What a probe looks at: one PNG, or a study's images each under its label. */
export type ProbeImages = Buffer | Array<{ png: Buffer; label: string }>;

export function createReadLoop<G extends Generated>(
  deps: ReadLoopDeps,
  backend: ReadBackend<G>,
): (input: InferenceInput, signal: AbortSignal) => Promise<InferenceResult> {
  let tables: Promise<CalibrationTables> | undefined;

  async function structuredRead(subject: ReadSubject, input: InferenceInput, signal: AbortSignal) {
    const temperature = input.temperature ?? deps.temperature;
    const messages = readMessages(deps.prompts, subject, input.question, input.history);
    const image = subjectImage(subject);
    const usage = { prompt: 0, completion: 0 };
    let current = messages;
    let loopRetried = false;
    let repaired = false;
    for (;;) {
      const generated = await backend.generate(
        current,
        image,
        { temperature, loopRetry: loopRetried },
        signal,
      );
      usage.prompt += generated.usage.prompt;
      usage.completion += generated.usage.completion;
      const parsed = parseModelRead(generated.text);
      const looped = looksLikeLoop(generated.text, generated.finish);
      // Valid JSON that repeats a phrase over and over is degenerate too: worth one fresh try.
      if (parsed.ok && (!looped || loopRetried)) return { read: parsed.read, usage, generated };
      if (looped && !loopRetried) {
        loopRetried = true;
        current = messages;
        deps.logger.warn({ finish: generated.finish }, 'model output looped; retrying once');
        continue;
      }
      if (parsed.ok) return { read: parsed.read, usage, generated };
      if (!repaired) {
        repaired = true;
        current = [
          ...messages,
          // The bad reply goes back to the model only, so it can correct itself; never to a user.
          { role: 'assistant', content: generated.text.slice(0, 4000) },
          { role: 'user', content: renderPrompt(deps.prompts, 'repair', { problem: parsed.problem }) },
        ];
        deps.logger.warn({ problem: parsed.problem }, 'model output invalid; asking for a repair');
        continue;
      }
      throw new AppError('MODEL_OUTPUT_INVALID', `model output invalid after repair: ${parsed.problem}`);
    }
  }

  /** Probe every finding on the image (or the whole study) and on a blank one of the same size. */
  async function probeAll(image: PreparedImage | StudyImage[], read: ModelRead, signal: AbortSignal) {
    const none = () => read.findings.map((): Confidence | undefined => undefined);
    if (read.findings.length === 0 || backend.canProbe?.() === false) return none();
    const blankOf = (one: PreparedImage) =>
      blankPng(one.width, one.height, one.png[25] === 0 || one.png[25] === 4 ? 1 : 3); // PNG IHDR colour type
    let real: ProbeImages;
    let blank: ProbeImages;
    if (Array.isArray(image)) {
      real = image.map((one) => ({ png: one.png, label: one.label }));
      const blanks = await Promise.all(image.map(blankOf));
      blank = image.map((one, i) => ({ png: blanks[i]!, label: one.label }));
    } else {
      real = image.png;
      blank = await blankOf(image);
    }
    const tasks = read.findings.flatMap((finding) => [
      { png: real, text: describeFinding(finding) },
      { png: blank, text: describeFinding(finding) },
    ]);
    try {
      const values = await mapLimit(tasks, backend.probeConcurrency, (task) =>
        backend.probe(task.png, task.text, signal),
      );
      return read.findings.map((_, i) => probeConfidence({ real: values[2 * i], blank: values[2 * i + 1] }));
    } catch (error) {
      // Probes refine confidence; a failed probe must not fail a read that already succeeded.
      if (isAppError(error, 'CANCELLED')) throw error;
      backend.probeFailed?.(error);
      deps.logger.warn(
        { code: isAppError(error) ? error.code : 'unknown' },
        'confidence probes failed; using the read’s own confidence',
      );
      return none();
    }
  }

  const studyReader = createStudyReader({
    deps,
    multiImage: backend.multiImage === true,
    structuredRead,
    probeAll,
    tables: () => {
      tables ??= loadTables(deps.dataDir, deps.model, PROMPT_VERSION);
      return tables;
    },
    ownConfidences: (generated, read) => backend.ownConfidences?.(generated, read) ?? [],
  });

  return async function read(input, signal) {
    const startedAt = deps.clock();
    tables ??= loadTables(deps.dataDir, deps.model, PROMPT_VERSION);
    // Several images (views, slices, windows, a prior): one request, or one montage (issue 17).
    const study = studyOf(input);
    if (study) return studyReader(study, input, signal, startedAt);
    const outcome = await withImageLadder(input, (image) => structuredRead(image, input, signal), {
      logger: deps.logger,
      signal,
      ...(deps.floorPx ? { floorPx: deps.floorPx } : {}),
    });
    const { read, usage, generated } = outcome.value;
    const probed = await probeAll(outcome.image, read, signal);
    const own = backend.ownConfidences?.(generated, read) ?? [];
    const result = buildResult({
      read,
      confidences: read.findings.map((_, i) => probed[i] ?? own[i]),
      tables: await tables,
      engineId: deps.engineId,
      model: deps.model,
      promptVersion: PROMPT_VERSION,
      image: outcome.image,
      usage,
      startedAt,
      now: deps.clock(),
      ...(outcome.downscaled ? { downscaled: outcome.downscaled } : {}),
    });
    return logRead(deps.logger, result);
  };
}

/**
 * Engine.probe for findings the caller names (`quickread eval`): the same probe on the image and on a
 * blank one, through the same backend. A failure that makes the backend give up probing (a server that
 * rejects logprobs) means "no probe"; any other failure is the caller's to retry.
 */
export function createNamedProbe(
  backend: Pick<ReadBackend<Generated>, 'probe' | 'probeConcurrency' | 'canProbe' | 'probeFailed'>,
): (input: ProbeInput, signal: AbortSignal) => Promise<ProbeOutcome[]> {
  return async (input, signal) => {
    const none = () => input.findings.map(() => ({ real: undefined, blank: undefined }));
    if (backend.canProbe?.() === false) return none();
    try {
      return await probeNamedFindings(input.image, input.findings, backend.probeConcurrency, (png, text) =>
        backend.probe(png, text, signal),
      );
    } catch (error) {
      if (isAppError(error, 'CANCELLED')) throw error;
      backend.probeFailed?.(error);
      if (backend.canProbe?.() === false) return none();
      throw error;
    }
  };
}
