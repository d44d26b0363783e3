import type {
  Engine,
  EngineHealth,
  InferenceInput,
  InferenceResult,
  ProbeInput,
  ProbeOutcome,
} from '../../core/types.ts';
import { AppError, isAppError } from '../../errors.ts';
import { type TopLogprob, yesProbability } from '../confidence/probe.ts';
import { type HttpDeps, requestJson } from '../http.ts';
import { findingsJsonSchema } from '../output.ts';
import type { PromptSet } from '../prompts.ts';
import { createNamedProbe, createReadLoop, type Generated, type ReadBackend } from '../read-loop.ts';
import { type ChatMessage, probeMessages } from './messages.ts';
import { createThinkingState } from './thinking.ts';

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

/**
 * Where an HTTP engine reads: one model server. Several endpoints (one per GPU box) can each get an
 * engine of their own; nothing here reads the global configuration.
 */
export interface EngineEndpoint {
  /** Base URL of the OpenAI-compatible API, e.g. http://127.0.0.1:8000/v1. */
  url: string;
  model: string;
  /** Reads the server takes at once (the dispatcher's slots for it). */
  concurrency: number;
}

export interface EngineDeps extends HttpDeps {
  prompts: PromptSet;
  dataDir: string;
  clock: () => number;
  /** The temperature when a request names none (TEMPERATURE). */
  temperature: number;
  /** Smallest longest side the out-of-memory ladder may try. */
  floorPx?: number;
  /** MAX_IMAGE_SIZE: the most a study's montage may measure (issue 17). */
  maxSide?: number;
}

interface Completion {
  content: string;
  finish: string | null;
  usage: { prompt: number; completion: number };
  top: TopLogprob[] | undefined;
}

export function createOpenAiEngine(endpoint: EngineEndpoint, deps: EngineDeps): Engine {
  const base = endpoint.url.replace(/\/+$/, '');
  const model = endpoint.model;
  let modelChecked = false;
  /** Learned from the first probe: a server that returns no logprobs is not probed again. */
  let logprobsSupported: boolean | undefined;
  /** Ollama: thinking off per request; probes that never say Yes/No stop (./thinking.ts). */
  const thinking = createThinkingState(deps, base, deps.logger);

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
    await thinking.detect(signal);
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
    const url = `${base}/chat/completions`;
    const extra = thinking.fields();
    let json: Awaited<ReturnType<typeof requestJson>>;
    try {
      json = await requestJson(deps, url, { method: 'POST', body: { ...body, ...extra }, what }, signal);
    } catch (error) {
      // A server that refuses the thinking field says so on the first request: send it once without,
      // and if that works, never send the field again.
      const refused = isAppError(error, 'ENGINE_ERROR') && error.details.status === 400;
      if (Object.keys(extra).length === 0 || !refused) throw error;
      json = await requestJson(deps, url, { method: 'POST', body, what }, signal);
      thinking.refused();
    }
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

  const backend: ReadBackend<Generated> = {
    // Qwen3-VL takes several images in one user turn: a study goes in one request (issue 17).
    multiImage: true,
    async generate(messages, _image, { temperature, loopRetry }, signal) {
      const presence = loopRetry ? LOOP_RETRY_PRESENCE_PENALTY : PRESENCE_PENALTY;
      const answer = await complete(
        readBody(messages, temperature, presence),
        signal,
        'POST /chat/completions',
      );
      return { text: answer.content, finish: answer.finish, usage: answer.usage };
    },
    async probe(png, finding, signal) {
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
      thinking.recordProbe(answer.top);
      return answer.top ? yesProbability(answer.top) : undefined;
    },
    probeConcurrency: PROBE_CONCURRENCY,
    canProbe: () => logprobsSupported !== false && thinking.probesOff === undefined,
    probeFailed(error) {
      // A server that rejects logprobs/top_logprobs (HTTP 400) will keep rejecting them: stop probing it.
      // (Not a refusal of too many images: that is --limit-mm-per-prompt, not logprobs.)
      if (isAppError(error, 'ENGINE_ERROR') && error.details.status === 400 && !error.details.imageLimit) {
        logprobsSupported = false;
      }
    },
  };
  const probeNamed = createNamedProbe(backend);
  const read = createReadLoop(
    {
      engineId: 'openai',
      model,
      prompts: deps.prompts,
      logger: deps.logger,
      clock: deps.clock,
      dataDir: deps.dataDir,
      temperature: deps.temperature,
      ...(deps.floorPx ? { floorPx: deps.floorPx } : {}),
      ...(deps.maxSide ? { maxSide: deps.maxSide } : {}),
    },
    backend,
  );

  return {
    id: 'openai',
    model,
    async health(signal = AbortSignal.timeout(5000)): Promise<EngineHealth> {
      try {
        const served = await listModels(signal);
        if (served.includes(model)) {
          return thinking.probesOff
            ? { ok: true, model, detail: `confidence probes off: ${thinking.probesOff}` }
            : { ok: true, model };
        }
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
    async probe(input: ProbeInput, signal: AbortSignal): Promise<ProbeOutcome[]> {
      await ensureModel(signal);
      return probeNamed(input, signal);
    },
    async infer(input: InferenceInput, signal: AbortSignal): Promise<InferenceResult> {
      await ensureModel(signal);
      return read(input, signal);
    },
  };
}
