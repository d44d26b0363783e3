import type { Config } from '../../config.ts';
import { isAppError } from '../../errors.ts';
import { silentLogger } from '../../log.ts';
import { blankPng, type TopLogprob, yesProbability } from '../confidence/probe.ts';
import { abortableSleep, DEFAULT_RETRY, type HttpDeps, requestJson } from '../http.ts';
import { defaultPrompts } from '../prompts.ts';
import { probeMessages } from './messages.ts';
import { createThinkingState, probeVerdict } from './thinking.ts';

/**
 * `quickread doctor`'s confidence check (issue 16): one yes/no probe, sent the way reads send them
 * (thinking off where the server takes it), and what its answer means for the confidences users see.
 */
export interface ProbeCheck {
  ok: boolean;
  detail: string;
  fix?: string;
}

export async function checkConfidenceProbes(
  config: Config,
  deps: { fetch?: typeof fetch; timeoutMs?: number } = {},
): Promise<ProbeCheck> {
  const http: HttpDeps = {
    fetch: deps.fetch ?? fetch,
    logger: silentLogger,
    timeoutMs: deps.timeoutMs ?? 30_000,
    retry: { ...DEFAULT_RETRY, attempts: 0 },
    headers: config.ENGINE_API_KEY === '' ? {} : { authorization: `Bearer ${config.ENGINE_API_KEY}` },
    sleep: abortableSleep,
    random: Math.random,
  };
  const base = config.ENGINE_URL.replace(/\/+$/, '');
  const signal = AbortSignal.timeout(deps.timeoutMs ?? 30_000);
  const thinking = createThinkingState(http, base, silentLogger);
  await thinking.detect(signal);
  const body = {
    model: config.ENGINE_MODEL,
    messages: probeMessages(defaultPrompts(), await blankPng(64, 64, 1), 'a pulmonary nodule'),
    temperature: 0,
    max_tokens: 1,
    logprobs: true,
    top_logprobs: 10,
  };
  const send = (extra: Record<string, unknown>) =>
    requestJson(
      http,
      `${base}/chat/completions`,
      { method: 'POST', body: { ...body, ...extra }, what: 'probe' },
      signal,
    );
  let json: Awaited<ReturnType<typeof requestJson>>;
  try {
    json = await send(thinking.fields()).catch((error: unknown) => {
      if (Object.keys(thinking.fields()).length > 0 && isAppError(error, 'ENGINE_ERROR')) return send({});
      throw error;
    });
  } catch (error) {
    const status = isAppError(error) ? error.details.status : undefined;
    return {
      ok: true,
      detail: `a yes/no probe was refused${status ? ` (HTTP ${String(status)})` : ''}: confidences will be model-stated (the server may not offer logprobs)`,
    };
  }
  const top = json?.choices?.[0]?.logprobs?.content?.[0]?.top_logprobs as TopLogprob[] | undefined;
  if (!Array.isArray(top) || top.length === 0) {
    return { ok: true, detail: 'the server returns no logprobs: confidences will be model-stated' };
  }
  if (yesProbability(top) === undefined) {
    return {
      ok: false,
      detail: `yes/no probes do not work: ${probeVerdict(top)}`,
      fix: 'Serve an instruct (non-thinking) model, e.g. `ollama pull qwen3-vl:8b-instruct` and ENGINE_MODEL=qwen3-vl:8b-instruct; until then reads use the model-stated confidence.',
    };
  }
  return { ok: true, detail: 'yes/no probes answer: confidences come from probe log-probabilities' };
}
