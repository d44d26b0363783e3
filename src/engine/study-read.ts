import type {
  Confidence,
  InferenceInput,
  InferenceResult,
  PreparedImage,
  StudyImage,
} from '../core/types.ts';
import { isAppError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { withImageLadder } from './ladder.ts';
import type { ReadSubject } from './openai/messages.ts';
import type { ModelRead } from './output.ts';
import { PROMPT_VERSION } from './prompts.ts';
import type { CalibrationTables } from './result.ts';
import { buildResult, logRead } from './result.ts';
import { montageImage, montageSide, summarizeStudy } from './study.ts';
import { withStudyLadder } from './study-ladder.ts';

/**
 * A study through the shared read loop (issue 17). An engine that takes several images gets them in
 * one request, each after its label; the out-of-memory ladder shrinks all of them together. A server
 * that refuses that many (vLLM's --limit-mm-per-prompt) and an engine that takes one image get the
 * study as one labelled montage, which the ladder shrinks whole. Probes look at what the read saw.
 */

/** The image a backend is handed with the messages (the montage, or the study's first image). */
export function subjectImage(subject: ReadSubject): PreparedImage {
  if (Array.isArray(subject)) return (subject as readonly StudyImage[])[0]!;
  if ('montage' in subject) return subject.montage;
  return subject as PreparedImage;
}

/** What the study path needs of the read loop's settings (read-loop.ts ReadLoopDeps). */
interface StudyReadDeps {
  engineId: string;
  model: string;
  logger: Logger;
  clock: () => number;
  floorPx?: number;
  maxSide?: number;
}

type Read<G> = { read: ModelRead; usage: { prompt: number; completion: number }; generated: G };

export function createStudyReader<G>(parts: {
  deps: StudyReadDeps;
  multiImage: boolean;
  structuredRead(subject: ReadSubject, input: InferenceInput, signal: AbortSignal): Promise<Read<G>>;
  probeAll(
    image: PreparedImage | StudyImage[],
    read: ModelRead,
    signal: AbortSignal,
  ): Promise<Array<Confidence | undefined>>;
  tables(): Promise<CalibrationTables>;
  ownConfidences(generated: G, read: ModelRead): Array<Confidence | undefined>;
}) {
  const { deps } = parts;
  /** Learned from a server's refusal: how many images it takes in one request. */
  let imageLimit: number | undefined;
  const ladderDeps = (signal: AbortSignal) => ({
    logger: deps.logger,
    signal,
    ...(deps.floorPx ? { floorPx: deps.floorPx } : {}),
  });

  const viaMontage = async (study: StudyImage[], input: InferenceInput, signal: AbortSignal) => {
    const montage = await montageImage(study, montageSide(study, deps.maxSide ?? 1024));
    const { refit: _refit, ...rest } = input;
    const outcome = await withImageLadder(
      { ...rest, image: montage },
      (image) => parts.structuredRead({ montage: image, images: study }, input, signal),
      ladderDeps(signal),
    );
    return {
      value: outcome.value,
      probed: outcome.image as PreparedImage | StudyImage[],
      sent: [outcome.image],
      downscaled: outcome.downscaled,
    };
  };

  const inOneRequest = async (study: StudyImage[], input: InferenceInput, signal: AbortSignal) => {
    const outcome = await withStudyLadder(
      study,
      (images) => parts.structuredRead(images, input, signal),
      ladderDeps(signal),
    );
    return {
      value: outcome.value,
      probed: outcome.images as PreparedImage | StudyImage[],
      sent: outcome.images,
      downscaled: outcome.downscaled,
    };
  };

  return async function readStudy(
    study: StudyImage[],
    input: InferenceInput,
    signal: AbortSignal,
    startedAt: number,
  ): Promise<InferenceResult> {
    let outcome: Awaited<ReturnType<typeof viaMontage>>;
    const fits = parts.multiImage && (imageLimit === undefined || study.length <= imageLimit);
    if (!fits) outcome = await viaMontage(study, input, signal);
    else {
      try {
        outcome = await inOneRequest(study, input, signal);
      } catch (error) {
        const limit = isAppError(error, 'ENGINE_ERROR') ? error.details.imageLimit : undefined;
        if (typeof limit !== 'number' || limit < 1) throw error;
        imageLimit = limit;
        deps.logger.warn(
          { images: study.length, limit },
          'server takes fewer images per request; sending a montage',
        );
        outcome = await viaMontage(study, input, signal);
      }
    }
    const { read, usage, generated } = outcome.value;
    const probed = await parts.probeAll(outcome.probed, read, signal);
    const own = parts.ownConfidences(generated, read);
    const tokens = outcome.sent.reduce((sum, image) => sum + image.tokens, 0);
    const result = buildResult({
      read,
      confidences: read.findings.map((_, i) => probed[i] ?? own[i]),
      tables: await parts.tables(),
      engineId: deps.engineId,
      model: deps.model,
      promptVersion: PROMPT_VERSION,
      image: { ...study[0]!, tokens },
      usage,
      startedAt,
      now: deps.clock(),
      ...(outcome.downscaled ? { downscaled: outcome.downscaled } : {}),
    });
    const seen = Array.isArray(outcome.probed) ? (outcome.probed as StudyImage[]) : study;
    return logRead(deps.logger, { ...result, images: summarizeStudy(seen) });
  };
}
