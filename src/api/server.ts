import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from '../config.ts';
import { DISCLAIMER } from '../core/reply.ts';
import type { BurnedInTextReport, InferenceResult, PreparedImage } from '../core/types.ts';
import { windowJson } from '../core/wording.ts';
import { isStoppedError } from '../dispatch/index.ts';
import type { Dispatcher } from '../dispatch/types.ts';
import { summarizeStudy } from '../engine/study.ts';
import { AppError, botStoppingError, type ErrorCode, toAppError } from '../errors.ts';
import type { PrepareOptions } from '../ingest/index.ts';
import { imageLabel, isZip, type PreparedStudy, prepareStudy } from '../ingest/study/index.ts';
import { studyOptions } from '../ingest/study/options.ts';
import type { Logger } from '../log.ts';
import { createBoundedServer, throttledWarn } from '../net/http-bounds.ts';
import { bearerToken, hostServed, isLoopbackAddress, secretMatches } from '../net/http-guard.ts';
import { listenError } from '../net/listen-error.ts';
import { watchEngineDown } from './engine-wait.ts';
import type { Metrics } from './metrics.ts';
import { createOpsRoutes } from './ops.ts';
import { parseJsonBody, parseMultipartBody, type VisualQaInput } from './visualqa-input.ts';

/**
 * `quickread serve-api` (DESIGN §5): the original service's POST /v1/visualqa, plus /healthz and
 * /metrics. Every read goes through prepareImage and the same dispatcher as chat requests, so API
 * callers share the GPU fairly (their fairness unit is the channel "api").
 */
export interface ApiServerDeps {
  config: Config;
  logger: Logger;
  dispatcher: Dispatcher;
  metrics: Metrics;
  prepare: (bytes: Uint8Array, options: PrepareOptions) => Promise<PreparedImage>;
  model: string;
  promptVersion?: string;
}

export interface ApiServer {
  readonly url: string;
  close(): Promise<void>;
}

/** HTTP status per error code: input problems are 4xx, engine trouble 5xx with Retry-After. */
const statusByCode: Partial<Record<ErrorCode, number>> = {
  USAGE: 400,
  INPUT_TOO_LARGE: 413,
  INPUT_UNSUPPORTED: 415,
  INPUT_HTML: 415,
  INPUT_NOT_IMAGE: 422,
  INPUT_CORRUPT: 422,
  INPUT_ASPECT: 422,
  TRANSFER_SYNTAX_UNSUPPORTED: 422,
  PHI_PRESENT: 422,
  BURNED_IN_TEXT: 422,
  DECODE_TIMEOUT: 422,
  IMAGE_TOO_LARGE_FOR_ENGINE: 422,
  NOT_ALLOWED: 401,
  ARCHIVE_TOO_LARGE: 413,
  ARCHIVE_UNSAFE: 422,
  ARCHIVE_CORRUPT: 422,
  ARCHIVE_EMPTY: 422,
  RATE_LIMITED: 429,
  QUEUE_FULL: 503,
  BOT_STOPPING: 503,
  ENGINE_UNAVAILABLE: 503,
  ENGINE_RATE_LIMITED: 503,
  ENGINE_OUT_OF_MEMORY: 503,
  ENGINE_CRASHED: 503,
  ENGINE_MODEL_MISSING: 503,
  ENGINE_ERROR: 502,
  MODEL_OUTPUT_INVALID: 502,
  ENGINE_TIMEOUT: 504,
  CANCELLED: 499,
};

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

/** The answer shape of the original service, plus the facts every quickread reply carries. */
export function toVisualQaResponse(
  result: InferenceResult,
  prepared?: Pick<PreparedImage, 'window' | 'deid'>,
) {
  const burnedInText: BurnedInTextReport | undefined = prepared?.deid.burnedInText;
  const confidences = result.findings.map((finding) => finding.confidence.value);
  return {
    response: result.impression,
    // The most confident finding's probability; null when the model reported none.
    confidence: confidences.length ? Math.max(...confidences) : null,
    findings: result.findings,
    model: result.model,
    urgency: result.urgency,
    recommendations: result.recommendations,
    promptVersion: result.promptVersion,
    image: { tokens: result.tokens.image },
    // Issue 18: which display window the model saw.
    window: prepared ? windowJson(prepared.window) : null,
    ...(result.downscaled ? { downscaled: result.downscaled } : {}),
    // Issue #9: the read says when text found in the pixels was blacked out (counts only, never the text).
    burnedInText: burnedInText ?? null,
    disclaimer: DISCLAIMER,
  };
}

/** Refuse to serve reads to the network without API_TOKEN: exit 2, before anything listens (issue 18). */
export function checkApiExposure(config: Config, host: string): void {
  if (config.API_TOKEN === '' && !isLoopbackAddress(host)) {
    throw new AppError('CONFIG_INVALID', 'serve-api beyond loopback without API_TOKEN', {
      userMessage:
        'serve-api on a non-loopback address needs API_TOKEN (24+ characters); callers then send "Authorization: Bearer <API_TOKEN>". Or keep --host 127.0.0.1.',
      details: { variables: ['API_TOKEN'] },
    });
  }
}

export async function startApiServer(
  deps: ApiServerDeps,
  /** `variable` names the setting the port came from, for a PORT_IN_USE message (default API_PORT). */
  listen: { port: number; host: string; variable?: string },
): Promise<ApiServer> {
  checkApiExposure(deps.config, listen.host);
  const logger = deps.logger.child({ component: 'api' });
  // Queue full, rate limited, engine down: one line a minute per code with a count, not one per refusal.
  const refusalLogs = new Map<string, (fields?: Record<string, unknown>) => void>();
  const refused = (code: string) => {
    let log = refusalLogs.get(code);
    if (!log) {
      log = throttledWarn(logger, 'visualqa refused');
      refusalLogs.set(code, log);
    }
    log({ code });
  };
  const maxFileBytes = deps.config.MAX_UPLOAD_MB * 1024 * 1024;
  const ops = createOpsRoutes({
    metrics: deps.metrics,
    source: deps.dispatcher,
    model: deps.model,
    metricsPublic: deps.config.METRICS_PUBLIC,
    ...(deps.promptVersion ? { promptVersion: deps.promptVersion } : {}),
  });

  // Requests handed to the dispatcher: their failures are counted from its 'finished' event instead.
  const dispatched = new WeakSet<IncomingMessage>();

  /** Bodies being received: each is held in memory, so each is part of the queue (QUEUE_MAX). */
  let receiving = 0;
  const queueFull = (): AppError | undefined => {
    const stats = deps.dispatcher.stats();
    if (stats.queued + stats.preparing + receiving < deps.config.QUEUE_MAX) return undefined;
    return new AppError('QUEUE_FULL', 'visualqa: queue full', { retryAfterSec: deps.dispatcher.etaSec() });
  };

  const visualqa = async (req: IncomingMessage, res: ServerResponse) => {
    const type = (req.headers['content-type'] ?? '').toLowerCase();
    // Refused before the body is read: a full queue costs the caller no upload and the bot no memory.
    const full = queueFull();
    if (full) throw full;
    let input: VisualQaInput;
    receiving += 1;
    try {
      if (type.startsWith('multipart/form-data')) input = await parseMultipartBody(req, maxFileBytes);
      else if (type.startsWith('application/json') || type === '')
        input = await parseJsonBody(req, maxFileBytes);
      else
        throw new AppError('USAGE', 'visualqa: unsupported content type', {
          userMessage: 'Send application/json or multipart/form-data.',
        });
    } finally {
      receiving -= 1;
    }
    const id = `api-${randomUUID()}`;
    const controller = new AbortController();
    // A caller that hangs up stops waiting; its queued read is dropped instead of wasting the GPU.
    res.on('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    // No per-user admission: API callers are scripts, as with the original service. The queue bound holds.
    const fullNow = queueFull();
    if (fullNow) throw fullNow;
    const prepareOptions: PrepareOptions = {
      question: input.question,
      maxSide: deps.config.MAX_IMAGE_SIZE,
      maxBytes: maxFileBytes,
      burnedInText: deps.config.BURNED_IN_TEXT,
      source: 'api',
    };
    dispatched.add(req);
    let prepared: PreparedImage | undefined;
    let study: PreparedStudy | undefined;
    // Several images (`images: [...]`, several files, a zip of a series) are one read (issue 17).
    const several = input.files.length > 1 || isZip(input.bytes);
    const watch = watchEngineDown(deps.dispatcher, deps.config.API_WAIT_S, () => deps.config.API_WAIT_S);
    const scheduled = deps.dispatcher.schedule(
      {
        id,
        userId: 'api',
        channelId: 'api',
        priority: 0,
        input: async () => {
          if (several) {
            const files = input.files.map((bytes) => ({ bytes }));
            study = await prepareStudy(files, { ...studyOptions(deps.config), question: input.question });
            prepared = study.images[0]!;
            return {
              image: prepared,
              ...(study.images.length > 1 ? { study: study.images } : {}),
              question: input.question,
              history: [],
              temperature: input.temperature ?? deps.config.TEMPERATURE,
            };
          }
          prepared = await deps.prepare(input.bytes, prepareOptions);
          return {
            image: prepared,
            question: input.question,
            history: [],
            refit: (maxSide: number) => deps.prepare(input.bytes, { ...prepareOptions, maxSide }),
            temperature: input.temperature ?? deps.config.TEMPERATURE,
          };
        },
      },
      controller.signal,
    );
    let result: InferenceResult;
    try {
      result = await Promise.race([scheduled, watch.expired]);
    } catch (error) {
      // Waited API_WAIT_S for a down engine: the queued read is withdrawn, the caller gets 503.
      controller.abort();
      throw error;
    } finally {
      watch.stop();
    }
    const images =
      result.images ??
      summarizeStudy(study?.images ?? (prepared ? [{ ...prepared, label: imageLabel(0, 1, prepared) }] : []));
    sendJson(res, 200, {
      ...toVisualQaResponse(result, prepared ?? study?.images[0]),
      images,
      notes: study?.notes ?? [],
    });
  };

  /** Set by close(): a request that still arrives is refused with BOT_STOPPING before its body is read. */
  let stopping = false;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    try {
      if (!hostServed(req, deps.config.SERVER_NAMES)) {
        sendJson(res, 421, {
          error: {
            code: 'NOT_ALLOWED',
            message:
              'This host name is not served here: call the API by its address, or add the name to SERVER_NAMES.',
          },
        });
        return;
      }
      if (await ops(req, res)) return;
      if (path === '/v1/visualqa') {
        const token = deps.config.API_TOKEN;
        if (token !== '' && !secretMatches(bearerToken(req) ?? '', token)) {
          throw new AppError('NOT_ALLOWED', 'visualqa: missing or wrong bearer token', {
            userMessage: 'Send "Authorization: Bearer <API_TOKEN>" (the token this server was started with).',
          });
        }
        if (stopping) throw botStoppingError('visualqa');
        if (req.method !== 'POST') {
          sendJson(res, 405, { error: { code: 'USAGE', message: 'Use POST.' } }, { allow: 'POST' });
          return;
        }
        await visualqa(req, res);
        return;
      }
      sendJson(res, 404, { error: { code: 'USAGE', message: 'Not found. Try POST /v1/visualqa.' } });
    } catch (error) {
      // The queue stopped under this request (SIGTERM): a coded 503 the caller retries, not an INTERNAL.
      const appError = isStoppedError(error) ? botStoppingError('visualqa') : toAppError(error);
      const status = statusByCode[appError.code] ?? 500;
      // Errors from the dispatcher are counted from its 'finished' event; the rest are counted here.
      if (!dispatched.has(req)) deps.metrics.countError(appError.code);
      if (status === 503 || status === 429) refused(appError.code);
      else if (status >= 500) logger.warn({ code: appError.code, err: appError }, 'visualqa failed');
      else logger.info({ code: appError.code }, 'visualqa refused');
      const retry = appError.retryAfterSec ?? (status === 503 ? 5 : undefined);
      const headers: Record<string, string> = retry ? { 'retry-after': String(retry) } : {};
      // RFC 6750 §3: a 401 names the scheme the client should use.
      if (status === 401) headers['www-authenticate'] = 'Bearer realm="quickread"';
      sendJson(res, status, { error: appError.toJSON() }, headers);
      // Drain what is left of a refused body so the client sees the answer, not a reset.
      if (!req.readableEnded) req.resume();
    }
  };

  // Slow clients are cut (408) while sending; a read waiting for the engine is not (http-bounds.ts).
  const server: Server = createBoundedServer((req, res) => {
    void handle(req, res);
  }, logger);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(
        listenError(error, { variable: listen.variable ?? 'API_PORT', port: listen.port, host: listen.host }),
      ),
    );
    server.listen(listen.port, listen.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        stopping = true;
        server.close(() => resolve());
        // Answers being written (a 503 BOT_STOPPING for reads the stopped queue gave up) get a moment
        // to reach their callers; idle keep-alive sockets go at once.
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 1000).unref();
      }),
  };
}
