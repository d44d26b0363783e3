import { isAppError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import type { TopLogprob } from '../confidence/probe.ts';
import { yesProbability } from '../confidence/probe.ts';
import { type HttpDeps, requestJson } from '../http.ts';

/**
 * Thinking models on OpenAI-compatible servers (issue 16). Ollama turns thinking on for a model that can
 * think when the request says nothing (`ollama pull qwen3-vl:8b` is such a model): a one-token probe
 * then spends its token thinking, and a read shares its token budget with the thinking. Ollama's
 * OpenAI-compatible endpoint takes `reasoning_effort` ("none" turns thinking off) and its native API
 * answers GET /api/version; vLLM has no /api/version and some of its versions refuse unknown request
 * fields, so the field goes only to a server that answered /api/version, and is dropped for good the
 * first time a server refuses it.
 *
 * Probes that still come back without a Yes or No among their top tokens (a model that starts every
 * answer with a thinking tag) will not get better: they stop for the process's life, the reads keep
 * the model-stated confidence, and `quickread doctor` says why (probeVerdict).
 */

export const THINKING_OFF = { reasoning_effort: 'none' } as const;

/**
 * Ollama's version when the server at `base` (…/v1) is Ollama, undefined when it answered but is not,
 * 'unreachable' when nothing answered (ask again later). Never throws.
 */
export async function ollamaVersion(
  deps: HttpDeps,
  base: string,
  signal: AbortSignal,
): Promise<string | undefined | 'unreachable'> {
  const root = base.replace(/\/v1\/?$/, '');
  try {
    const body = await requestJson(
      { ...deps, retry: { ...deps.retry, attempts: 0 } },
      `${root}/api/version`,
      { method: 'GET', what: 'GET /api/version' },
      signal,
    );
    return typeof body?.version === 'string' ? body.version : undefined;
  } catch (error) {
    const silent = isAppError(error, 'ENGINE_UNAVAILABLE') || isAppError(error, 'ENGINE_TIMEOUT');
    return silent || isAppError(error, 'CANCELLED') ? 'unreachable' : undefined;
  }
}

/** A 400 whose message names the thinking field: this server does not take it. */
export function refusesThinkingField(status: unknown, message: string): boolean {
  return status === 400 && /reasoning_effort|reasoning effort|\bthink\b|thinking/i.test(message);
}

export interface ThinkingState {
  /** Fields to add to every chat request body (empty until the server is known to take them). */
  fields(): Record<string, unknown>;
  /** Learn the server kind once (GET /api/version). */
  detect(signal: AbortSignal): Promise<void>;
  /** The server refused the field: stop sending it. */
  refused(): void;
  /** Whether probes are still worth sending, and why not once they are not. */
  readonly probesOff: string | undefined;
  /** Record one probe's top tokens: PROBES_WITHOUT_ANSWER in a row without a Yes or No turn probes off. */
  recordProbe(top: readonly TopLogprob[] | undefined): void;
}

/** The real-image and blank-image probe of one finding: both without Yes/No is not a fluke. */
export const PROBES_WITHOUT_ANSWER = 2;

export function createThinkingState(deps: HttpDeps, base: string, logger: Logger): ThinkingState {
  let detected: Promise<void> | undefined;
  let send = false;
  let probesOff: string | undefined;
  let withoutAnswer = 0;
  return {
    fields: () => (send ? { ...THINKING_OFF } : {}),
    detect(signal) {
      detected ??= ollamaVersion(deps, base, signal).then((version) => {
        // Nobody answered (server still starting): decide on a later read, not now.
        if (version === 'unreachable') {
          detected = undefined;
          return;
        }
        send = version !== undefined;
        if (send) logger.info({ ollama: version }, 'Ollama server: asking for answers without thinking');
      });
      return detected;
    },
    refused() {
      if (!send) return;
      send = false;
      logger.warn('the server refused reasoning_effort; reads go on without it');
    },
    get probesOff() {
      return probesOff;
    },
    recordProbe(top) {
      if (probesOff || !top || top.length === 0) return;
      if (yesProbability(top) !== undefined) {
        withoutAnswer = 0;
        return;
      }
      withoutAnswer += 1;
      if (withoutAnswer < PROBES_WITHOUT_ANSWER) return;
      probesOff = probeVerdict(top);
      logger.warn({ firstToken: top[0]?.token.slice(0, 20) }, 'probes answer without Yes/No; probes off');
    },
  };
}

/** Why probes are useless, in words for doctor and the log (the first token says what the model did). */
export function probeVerdict(top: readonly TopLogprob[]): string {
  const first = top[0]?.token ?? '';
  const thinking = /think|<\|/i.test(first);
  return thinking
    ? `the model answers a yes/no probe by starting to think ("${first.slice(0, 20)}"): it is a thinking model; serve an instruct (non-thinking) tag such as qwen3-vl:8b-instruct`
    : `the model's most likely first tokens hold no Yes or No (first "${first.slice(0, 20)}"), so confidences stay model-stated`;
}
