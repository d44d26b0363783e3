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
import { loadTables } from '../confidence/calibration.ts';
import {
  blankPng,
  describeFinding,
  mapLimit,
  probeConfidence,
  type TopLogprob,
  yesProbability,
} from '../confidence/probe.ts';
import { type HttpDeps, requestJson } from '../http.ts';
import { withImageLadder } from '../ladder.ts';
import { looksLikeLoop } from '../loop.ts';
import { findingsJsonSchema, type ModelRead, parseModelRead } from '../output.ts';
import { PROMPT_VERSION, type PromptSet, renderPrompt } from '../prompts.ts';
import { buildResult, type CalibrationTables, logRead } from '../result.ts';
import { montageImage, montageSide, studyOf, summarizeStudy } from '../study.ts';
import { withStudyLadder } from '../study-ladder.ts';
import { type ChatMessage, probeMessages, type ReadSubject, readMessages } from './messages.ts';

/**
 * The OpenAI-compatible engine (vLLM, SGLang, Ollama, LM Studio, llama.cpp server): POST
 * {ENGINE_URL}/chat/completions with the image as a data URL and `response_format: json_schema`
 * (guided decoding), then yes/no probes per finding for a confidence with a source.
 */

/** Completion cap for a read: a full answer is ~300–600 tokens; a loop stops here. */
export const READ_MAX_TOKENS = 1500;
/** Qwen's model cards recommend a presence penalty for VL; mild, since JSON repeats its keys by design. */
export const PRESENCE_PENALTY = 0.5;
const LOOP_RETRY_PRESENCE_PENALTY = 1.5;
const PROBE_CONCURRENCY = 8;
const PROBE_TOP_LOGPROBS = 10;

export interface EngineDeps extends HttpDeps {
  prompts: PromptSet;
  dataDir: string;
  clock: () => number;
  /** Smallest longest side the out-of-memory ladder may try. */
  floorPx?: number;
}

interface Completion {
  content: string;
  finish: string | null;
  usage: { prompt: number; completion: number };
  top: TopLogprob[] | undefined;
}

export function createOpenAiEngine(config: Config, deps: EngineDeps): Engine {
  const base = config.ENGINE_URL.replace(/\/+$/, '');
  const model = config.ENGINE_MODEL;
  let modelChecked = false;
  let tables: Promise<CalibrationTables> | undefined;
  /** Learned from the first probe: a server that returns no logprobs is not probed again. */
  let logprobsSupported: boolean | undefined;

  const listModels = async (signal: AbortSignal): Promise<string[]> => {
    const body = await requestJson(deps, `${base}/models`, { method: 'GET', what: 'GET /models' }, signal);
    const data = Array.isArray(body?.data) ? (body.data as Array<{ id?: unknown }>) : [];
    return data.map((entry) => String(entry.id));
  };

  const modelMissing = (served: string[]) =>
    new AppError('ENGINE_MODEL_MISSING', 'configured model not served', {
      userMessage: `The model server does not serve ${model} (it serves: ${served.join(', ') || 'nothing'}). Set ENGINE_MODEL to a served name or start the server with ${model}.`,
      details: { served },
    });

  const ensureModel = async (signal: AbortSignal) => {
    if (modelChecked) return;
    const served = await listModels(signal);
    if (!served.includes(model)) throw modelMissing(served);
    modelChecked = true;
  };

  const complete = async (
    body: Record<string, unknown>,
    signal: AbortSignal,
    what: string,
  ): Promise<Completion> => {
    const json = await requestJson(deps, `${base}/chat/completions`, { method: 'POST', body, what }, signal);
    const choice = json?.choices?.[0];
    const content = choice?.message?.content;
    if (typeof content !== 'string') throw new AppError('ENGINE_ERROR', `${what}: no message content`);
    const top = choice?.logprobs?.content?.[0]?.top_logprobs;
    return {
      content,
      finish: typeof choice.finish_reason === 'string' ? choice.finish_reason : null,
      usage: {
        prompt: Number(json?.usage?.prompt_tokens ?? 0),
        completion: Number(json?.usage?.completion_tokens ?? 0),
      },
      top: Array.isArray(top) ? (top as TopLogprob[]) : undefined,
    };
  };

  const readBody = (messages: ChatMessage[], temperature: number, presence: number) => ({
    model,
    messages,
    temperature,
    max_tokens: READ_MAX_TOKENS,
    presence_penalty: presence,
    response_format: {
      type: 'json_schema',
      json_schema: { name: 'radiology_read', schema: findingsJsonSchema() },
    },
  });

  /** One structured read: a loop is retried once with a stronger penalty, bad JSON is repaired once. */
  const structuredRead = async (
    image: ReadSubject,
    input: InferenceInput,
    signal: AbortSignal,
  ): Promise<{ read: ModelRead; usage: Completion['usage'] }> => {
    const temperature = input.temperature ?? config.TEMPERATURE;
    const messages = readMessages(deps.prompts, image, input.question, input.history);
    const usage = { prompt: 0, completion: 0 };
    let loopRetried = false;
    let repaired = false;
    let current = messages;
    let presence = PRESENCE_PENALTY;
    for (;;) {
      const answer = await complete(
        readBody(current, temperature, presence),
        signal,
        'POST /chat/completions',
      );
      usage.prompt += answer.usage.prompt;
      usage.completion += answer.usage.completion;
      const parsed = parseModelRead(answer.content);
      const looped = looksLikeLoop(answer.content, answer.finish);
      // Valid JSON that repeats a phrase over and over is degenerate too: worth one fresh try.
      if (parsed.ok && (!looped || loopRetried)) return { read: parsed.read, usage };
      if (looped && !loopRetried) {
        loopRetried = true;
        presence = LOOP_RETRY_PRESENCE_PENALTY;
        current = messages;
        deps.logger.warn({ finish: answer.finish }, 'model output looped; retrying once');
        continue;
      }
      if (parsed.ok) return { read: parsed.read, usage };
      if (!repaired) {
        repaired = true;
        current = [
          ...messages,
          // The bad reply goes back to the model only, so it can correct itself; never to a user.
          { role: 'assistant', content: answer.content.slice(0, 4000) },
          { role: 'user', content: renderPrompt(deps.prompts, 'repair', { problem: parsed.problem }) },
        ];
        deps.logger.warn({ problem: parsed.problem }, 'model output invalid; asking for a repair');
        continue;
      }
      throw new AppError('MODEL_OUTPUT_INVALID', `model output invalid after repair: ${parsed.problem}`);
    }
  };

  type ProbeImages = Buffer | Array<{ png: Buffer; label: string }>;
  const probe = async (
    png: ProbeImages,
    finding: string,
    signal: AbortSignal,
  ): Promise<number | undefined> => {
    const answer = await complete(
      {
        model,
        messages: probeMessages(deps.prompts, png, finding),
        temperature: 0,
        max_tokens: 1,
        logprobs: true,
        top_logprobs: PROBE_TOP_LOGPROBS,
      },
      signal,
      'POST /chat/completions (probe)',
    );
    logprobsSupported = answer.top !== undefined;
    return answer.top ? yesProbability(answer.top) : undefined;
  };

  const blankOf = (image: PreparedImage) => {
    const channels = image.png[25] === 0 || image.png[25] === 4 ? 1 : 3; // PNG IHDR colour type
    return blankPng(image.width, image.height, channels);
  };

  /**
   * Probe every finding on the image and on a blank one of the same size, concurrently. A study is
   * probed whole: every image, then every image blanked, each under its label.
   */
  const probeAll = async (image: PreparedImage | StudyImage[], read: ModelRead, signal: AbortSignal) => {
    if (read.findings.length === 0 || logprobsSupported === false) {
      return read.findings.map((): Confidence | undefined => undefined);
    }
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
      const values = await mapLimit(tasks, PROBE_CONCURRENCY, (task) => probe(task.png, task.text, signal));
      return read.findings.map((_, i) => probeConfidence({ real: values[2 * i], blank: values[2 * i + 1] }));
    } catch (error) {
      // Probes refine confidence; a failed probe must not fail a read that already succeeded.
      if (isAppError(error, 'CANCELLED')) throw error;
      // A server that rejects logprobs/top_logprobs (HTTP 400) will keep rejecting them: stop probing it.
      if (isAppError(error, 'ENGINE_ERROR') && error.details.status === 400 && !error.details.imageLimit) {
        logprobsSupported = false;
      }
      deps.logger.warn(
        { code: isAppError(error) ? error.code : 'unknown' },
        'confidence probes failed; using model-stated',
      );
      return read.findings.map(() => undefined);
    }
  };

  const ladderDeps = (signal: AbortSignal) => ({
    logger: deps.logger,
    signal,
    ...(deps.floorPx ? { floorPx: deps.floorPx } : {}),
  });

  /** Learned from a server's refusal: how many images it takes in one request (--limit-mm-per-prompt). */
  let serverImageLimit: number | undefined;

  /** The study tiled into one labelled picture, for a server that takes fewer images than it has. */
  const montageRead = async (images: StudyImage[], input: InferenceInput, signal: AbortSignal) => {
    const montage = await montageImage(images, montageSide(images, config.MAX_IMAGE_SIZE));
    return { ...(await structuredRead({ montage, images }, input, signal)), montage };
  };

  /**
   * Several images in one request (issue 17): every image_url part after its label. A server started
   * with a lower --limit-mm-per-prompt gets the study as one labelled montage instead, so nothing
   * posted goes unread (doctor says how to raise the limit).
   */
  const inferStudy = async (
    study: StudyImage[],
    input: InferenceInput,
    signal: AbortSignal,
    startedAt: number,
  ) => {
    type StudyRead = { read: ModelRead; usage: Completion['usage']; montage?: PreparedImage };
    const attempt = async (images: StudyImage[]): Promise<StudyRead> => {
      if (serverImageLimit !== undefined && images.length > serverImageLimit) {
        return montageRead(images, input, signal);
      }
      try {
        return await structuredRead(images, input, signal);
      } catch (error) {
        const limit = isAppError(error, 'ENGINE_ERROR') ? error.details.imageLimit : undefined;
        if (typeof limit !== 'number' || limit < 1) throw error;
        serverImageLimit = limit;
        deps.logger.warn(
          { images: images.length, limit },
          'server takes fewer images per request; sending a montage',
        );
        return montageRead(images, input, signal);
      }
    };
    const outcome = await withStudyLadder(study, attempt, ladderDeps(signal));
    // Probes look at what the read looked at: the images, or the montage that stood in for them.
    const probed = outcome.value.montage ?? outcome.images;
    const confidences = await probeAll(probed, outcome.value.read, signal);
    const tokens = outcome.images.reduce((sum, image) => sum + image.tokens, 0);
    const result = buildResult({
      read: outcome.value.read,
      confidences,
      tables: await tables!,
      engineId: 'openai',
      model,
      promptVersion: PROMPT_VERSION,
      image: { ...outcome.images[0]!, tokens },
      usage: outcome.value.usage,
      startedAt,
      now: deps.clock(),
      ...(outcome.downscaled ? { downscaled: outcome.downscaled } : {}),
    });
    return logRead(deps.logger, { ...result, images: summarizeStudy(outcome.images) });
  };

  return {
    id: 'openai',
    model,
    async health(signal = AbortSignal.timeout(5000)): Promise<EngineHealth> {
      try {
        const served = await listModels(signal);
        if (served.includes(model)) return { ok: true, model };
        return { ok: false, model, code: 'ENGINE_MODEL_MISSING', detail: modelMissing(served).userMessage };
      } catch (error) {
        const app = isAppError(error) ? error : undefined;
        return {
          ok: false,
          model,
          code: app?.code ?? 'ENGINE_UNAVAILABLE',
          detail: app?.userMessage ?? 'unreachable',
        };
      }
    },
    async infer(input: InferenceInput, signal: AbortSignal): Promise<InferenceResult> {
      const startedAt = deps.clock();
      await ensureModel(signal);
      tables ??= loadTables(deps.dataDir, model, PROMPT_VERSION);
      const study = studyOf(input);
      if (study) return inferStudy(study, input, signal, startedAt);
      const outcome = await withImageLadder(
        input,
        (image) => structuredRead(image, input, signal),
        ladderDeps(signal),
      );
      const confidences = await probeAll(outcome.image, outcome.value.read, signal);
      const result = buildResult({
        read: outcome.value.read,
        confidences,
        tables: await tables,
        engineId: 'openai',
        model,
        promptVersion: PROMPT_VERSION,
        image: outcome.image,
        usage: outcome.value.usage,
        startedAt,
        now: deps.clock(),
        ...(outcome.downscaled ? { downscaled: outcome.downscaled } : {}),
      });
      return logRead(deps.logger, result);
    },
  };
}
