import { AppError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { classifyEngineMessage, isMidAnswerDisconnect } from './failure.ts';

/**
 * One JSON POST/GET to a model server, with the failure taxonomy every engine shares:
 * - connection refused/reset → ENGINE_UNAVAILABLE (retryable: the dispatcher keeps the job waiting);
 * - 429/503 → wait what Retry-After says (RFC 9110 §10.2.3: delay-seconds or an HTTP-date), else
 *   exponential back-off with full jitter, a bounded number of times, then ENGINE_RATE_LIMITED /
 *   ENGINE_UNAVAILABLE carrying retryAfterSec;
 * - out of memory, context or encoder cache overflow → ENGINE_OUT_OF_MEMORY, which the out-of-memory
 *   ladder catches to retry smaller; the engine process dying (vLLM's EngineCore, Ollama's runner, or the
 *   socket reset in the middle of an answer) → ENGINE_CRASHED (./failure.ts says which strings);
 * - our timeout → ENGINE_TIMEOUT; the caller's abort → CANCELLED.
 */

export interface RetryPolicy {
  /** Retries after a 429/503 (default 3). */
  attempts: number;
  /** Back-off base when no Retry-After is given (default 500 ms). */
  baseMs: number;
  /** Longest single wait, whatever Retry-After says (default 30 s). */
  maxWaitMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 3, baseMs: 500, maxWaitMs: 30_000 };

export interface HttpDeps {
  fetch: typeof fetch;
  logger: Logger;
  timeoutMs: number;
  retry: RetryPolicy;
  headers: Record<string, string>;
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  random: () => number;
}

export function isOutOfMemoryText(text: string): boolean {
  return classifyEngineMessage(text) === 'out-of-memory';
}

/** Retry-After as seconds: delay-seconds or an HTTP-date (RFC 9110 §10.2.3); undefined if absent or junk. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  // An HTTP-date names its day and month ("Wed, 21 Oct 2015 07:28:00 GMT"); "-3" is junk, not year -3.
  if (!/[A-Za-z]{3}/.test(trimmed)) return undefined;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now) / 1000));
}

/** The wait before retry `attempt` (0-based): Retry-After if given (plus a little jitter), else full jitter. */
export function backoffMs(
  attempt: number,
  retryAfterSec: number | undefined,
  deps: Pick<HttpDeps, 'retry' | 'random'>,
): number {
  const { baseMs, maxWaitMs } = deps.retry;
  if (retryAfterSec !== undefined) {
    // Spread clients that were all told the same second so they do not return in one burst.
    return Math.min(maxWaitMs, retryAfterSec * 1000 + deps.random() * baseMs * 0.2);
  }
  return Math.min(maxWaitMs, deps.random() * baseMs * 2 ** attempt);
}

export const abortableSleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });

/** Text of an error body: vLLM's flat `{object:"error", message}`, nested `{error:{message}}`, FastAPI `{detail}`. */
export function errorMessageOf(body: unknown, raw: string): string {
  if (body && typeof body === 'object') {
    const record = body as Record<string, unknown>;
    if (typeof record.message === 'string') return record.message;
    const nested = record.error as Record<string, unknown> | string | undefined;
    if (typeof nested === 'string') return nested;
    if (nested && typeof nested.message === 'string') return nested.message;
    if (typeof record.detail === 'string') return record.detail;
    if (record.detail !== undefined) return JSON.stringify(record.detail);
  }
  return raw.slice(0, 500);
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'EPIPE',
]);

function connectionCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

// biome-ignore lint/suspicious/noExplicitAny: callers validate the JSON they get
export type Json = any;

/**
 * Send one request (retrying 429/503 within the policy) and return the parsed JSON body of a 2xx.
 * `what` names the endpoint in logs and messages (never the URL's query or any body content).
 */
export async function requestJson(
  deps: HttpDeps,
  url: string,
  init: { method: 'GET' | 'POST'; body?: unknown; what: string },
  signal: AbortSignal,
): Promise<Json> {
  for (let attempt = 0; ; attempt++) {
    const timeout = AbortSignal.timeout(deps.timeoutMs);
    const combined = AbortSignal.any([signal, timeout]);
    let response: Response;
    let raw: string;
    try {
      response = await deps.fetch(url, {
        method: init.method,
        headers: {
          ...deps.headers,
          ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        signal: combined,
      });
      raw = await response.text();
    } catch (error) {
      throw classifyThrown(error, signal, timeout, deps, init);
    }
    let body: unknown;
    try {
      body = raw.length > 0 ? JSON.parse(raw) : undefined;
    } catch {
      body = undefined;
    }
    if (response.ok) {
      if (body === undefined) throw new AppError('ENGINE_ERROR', `${init.what}: non-JSON 2xx body`);
      return body;
    }
    const message = errorMessageOf(body, raw);
    const status = response.status;
    const failure = classifyEngineMessage(message);
    if (failure === 'engine-died') {
      throw new AppError('ENGINE_CRASHED', `${init.what}: HTTP ${status} engine process died`, {
        details: { status },
      });
    }
    if (failure === 'out-of-memory') {
      throw new AppError('ENGINE_OUT_OF_MEMORY', `${init.what}: HTTP ${status} out of memory or context`, {
        details: { status },
      });
    }
    if (status === 429 || status === 503) {
      const retryAfterSec = parseRetryAfter(response.headers.get('retry-after'));
      if (attempt < deps.retry.attempts) {
        const wait = backoffMs(attempt, retryAfterSec, deps);
        deps.logger.warn(
          { status, attempt, waitMs: Math.round(wait), what: init.what },
          'engine busy; retrying',
        );
        try {
          await deps.sleep(wait, signal);
        } catch {
          throw new AppError('CANCELLED', `${init.what}: cancelled while waiting to retry`);
        }
        continue;
      }
      throw new AppError(
        status === 429 ? 'ENGINE_RATE_LIMITED' : 'ENGINE_UNAVAILABLE',
        `${init.what}: HTTP ${status} after ${attempt + 1} attempts`,
        { retryAfterSec: retryAfterSec ?? Math.ceil(deps.retry.baseMs / 1000), details: { status } },
      );
    }
    if (status === 401 || status === 403) {
      throw new AppError('ENGINE_ERROR', `${init.what}: HTTP ${status}`, {
        retryable: false,
        userMessage:
          'The model server refused quickread’s API key; an administrator must set ENGINE_API_KEY.',
        details: { status },
      });
    }
    // vLLM's --limit-mm-per-prompt (vllm/multimodal/parse.py): "At most N image(s) may be provided in one prompt."
    const imageLimit = /At most (\d+) image\(s\) may be provided/i.exec(message);
    if (imageLimit) {
      const limit = Number(imageLimit[1]);
      throw new AppError('ENGINE_ERROR', `${init.what}: server takes at most ${limit} images`, {
        retryable: false,
        userMessage: `The model server accepts at most ${limit} image(s) per request. Restart it with --limit-mm-per-prompt '{"image":4,"video":0}' (STUDY_MAX_IMAGES), or set STUDY_MAX_IMAGES=${Math.max(1, limit)}.`,
        details: { status, imageLimit: limit },
      });
    }
    if (status === 404 && /model/i.test(message)) {
      throw new AppError('ENGINE_MODEL_MISSING', `${init.what}: model not served`, { details: { status } });
    }
    throw new AppError('ENGINE_ERROR', `${init.what}: HTTP ${status}`, {
      retryable: status >= 500,
      details: { status },
    });
  }
}

function classifyThrown(
  error: unknown,
  signal: AbortSignal,
  timeout: AbortSignal,
  deps: HttpDeps,
  init: { method: 'GET' | 'POST'; what: string },
): AppError {
  const { what } = init;
  if (error instanceof AppError) return error;
  if (signal.aborted) return new AppError('CANCELLED', `${what}: cancelled by caller`, { cause: error });
  if (timeout.aborted) {
    return new AppError('ENGINE_TIMEOUT', `${what}: no answer within ${deps.timeoutMs} ms`, {
      details: { timeoutMs: deps.timeoutMs },
    });
  }
  const code = connectionCode(error);
  // A read (POST) whose socket the server dropped: the server went away under it, most often its engine
  // process dying of GPU memory. A GET that cannot connect is just a server that is not up.
  if (init.method === 'POST' && isMidAnswerDisconnect(code)) {
    return new AppError('ENGINE_CRASHED', `${what}: ${code} in the middle of an answer`, {
      cause: error,
      details: { code },
    });
  }
  return new AppError('ENGINE_UNAVAILABLE', `${what}: ${code ?? 'network error'}`, {
    cause: error,
    details: { code: code ?? 'unknown' },
  });
}
