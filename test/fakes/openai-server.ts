import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeImageRef, type ImageFacts, imageFacts } from './image-facts.ts';
import { type ChatBody, completion, imageUrls, probeCompletion, readAnswer } from './openai-answers.ts';
import { restartableServer } from './restartable-server.ts';

/**
 * A loopback OpenAI-compatible server shaped like vLLM's (`vllm serve`): GET /v1/models, POST
 * /v1/chat/completions with `choices[0].message.content`, `logprobs.content[].top_logprobs`, `usage`,
 * and vLLM's error body `{object: "error", message, type, param, code}` (vllm/entrypoints/openai/
 * protocol.py ErrorResponse; newer releases nest it as `{error: {...}}`, see `errorShape`).
 *
 * Answers are deterministic and derived from the request: a read returns the configured findings for a
 * real image and none for a blank one (every pixel equal); a yes/no probe (max_tokens 1 + logprobs)
 * returns P(yes) for the finding named in its text. Fault modes let tests drive every failure path.
 */

export interface FakeFinding {
  label: string;
  location: string;
  sizeMm?: number | null;
  laterality?: 'left' | 'right' | 'bilateral' | 'midline' | 'none';
  severity?: 'normal' | 'mild' | 'moderate' | 'severe' | 'critical';
  characteristics?: string;
  confidence?: number;
}

export type FakeMode =
  | 'ok'
  /** The port is closed: connections are refused until another mode is set. */
  | 'down'
  /** The next chat request gets 503 with `Retry-After: arg` (default 0) seconds; then 'ok'. */
  | '503-once'
  /** Every chat request gets 503 with `Retry-After: arg` (default 0). */
  | '503'
  /** The next chat request gets 429 with `Retry-After: arg` (default 0); then 'ok'. */
  | '429-once'
  /** Chat requests whose image costs more than `arg` tokens fail like an out-of-memory vLLM. */
  | 'oom-above'
  /** Reads answer with text that is not valid JSON, every time. */
  | 'malformed'
  /** The next read answers malformed JSON; the one after (the repair) is fine. */
  | 'malformed-once'
  /** Reads answer a degenerate repetition cut off by max_tokens (finish_reason "length"). */
  | 'loop'
  /** The next read loops; the one after is fine. */
  | 'loop-once'
  /** Chat requests are accepted and never answered. */
  | 'hang'
  /**
   * The next chat request finds the engine process dead: HTTP 500 with vLLM's EngineDeadError text (or
   * Ollama's dead-runner text, `deathStyle`); then 'ok', as after a supervisor restarted the server.
   */
  | 'engine-dead-once'
  /** The next chat request's socket is destroyed before any answer (the process died mid-read); then 'ok'. */
  | 'reset-once';

export interface FakeOpenAIOptions {
  /** The served model name (default Qwen/Qwen3-VL-8B-Instruct). */
  model?: string;
  /** Findings a read returns for a non-blank image (default: one right upper lobe nodule). */
  findings?: FakeFinding[];
  impression?: string;
  urgency?: 'routine' | 'urgent' | 'critical';
  /** Whether the server returns logprobs when asked (default true; false = like a server without them). */
  logprobs?: boolean;
  /** P(yes) of the probe for a finding on the real image (default 0.9). */
  probeYes?: number;
  /** P(yes) of the probe on a blank image (default 0.1). */
  blankProbeYes?: number;
  /**
   * P(yes) of a probe on a non-blank image, from the image and the probe's text (lower case); undefined
   * falls back to `probeYes`. Lets a test give each image a known score, so AUROC has a known value.
   */
  probeYesFor?: (image: ImageFacts, probeText: string) => number | undefined;
  /** Labels the model "sees" even on a blank image: their blank probe answers like the real one. */
  ungrounded?: string[];
  /** Token spelling of probe answers: English, Chinese or both cases and languages (default 'mixed'). */
  probeTokens?: 'en' | 'zh' | 'mixed';
  /** Out-of-memory text for 'oom-above': CUDA OOM (HTTP 500), vLLM's context-length 400 or encoder-cache 400. */
  oomStyle?: 'cuda' | 'context' | 'encoder-cache';
  /** Whose dead-engine text 'engine-dead-once' sends (default vLLM's). */
  deathStyle?: 'vllm' | 'ollama';
  /** vLLM's --limit-mm-per-prompt image limit: more images get its 400 (default: no limit). */
  maxImagesPerPrompt?: number;
  /** vLLM's legacy flat error body (default) or the newer nested `{error: {...}}`. */
  errorShape?: 'flat' | 'nested';
  /** When set, requests without `Authorization: Bearer <apiKey>` get 401. */
  apiKey?: string;
  /** Delay before answering each chat completion, in ms (lets tests see concurrency). */
  delayMs?: number;
  /**
   * Answer like Ollama (GET /api/version). `thinking`: the model thinks unless the request says
   * `reasoning_effort: "none"`, so a one-token probe comes back as the start of a thinking block.
   * `refusesReasoningEffort`: a server version that rejects the field with HTTP 400.
   */
  ollama?: { version: string; thinking?: boolean; refusesReasoningEffort?: boolean };
}

export interface RecordedRequest {
  method: string;
  path: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests inspect arbitrary request JSON
  body: any;
  headers: Record<string, string>;
  /** Facts about the last image in the request, when it had one. */
  image?: ImageFacts;
  /** Facts about every image in the request, in order. */
  images: ImageFacts[];
  /** 'read' (a findings request), 'probe' (max_tokens 1 with logprobs) or 'other'. */
  kind: 'read' | 'probe' | 'other';
}

export interface FakeOpenAI {
  /** Base URL ending in /v1. */
  url: string;
  requests: RecordedRequest[];
  /** Most chat completions that were in flight at the same time. */
  readonly peakInFlight: number;
  /** Change the fault mode; await it when switching to or from 'down'. */
  setMode(mode: FakeMode, arg?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startFakeOpenAI(options: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const model = options.model ?? 'Qwen/Qwen3-VL-8B-Instruct';
  const requests: RecordedRequest[] = [];
  const hanging = new Set<ServerResponse>();
  let mode: FakeMode = 'ok';
  let modeArg: number | undefined;
  let inFlight = 0;
  let peakInFlight = 0;

  const sendJson = (
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const sendError = (res: ServerResponse, status: number, type: string, message: string, headers = {}) => {
    const flat = { object: 'error', message, type, param: null, code: status };
    const body =
      options.errorShape === 'nested' ? { error: { message, type, param: null, code: status } } : flat;
    sendJson(res, status, body, headers);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const raw = await readBody(req);
    let body: unknown;
    try {
      body = raw.length > 0 ? JSON.parse(raw) : undefined;
    } catch {
      body = undefined;
    }
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      path,
      body,
      headers: flattenHeaders(req),
      kind: 'other',
      images: [],
    };
    requests.push(recorded);

    if (options.apiKey !== undefined && req.headers.authorization !== `Bearer ${options.apiKey}`) {
      sendError(res, 401, 'Unauthorized', 'Unauthorized');
      return;
    }
    if (req.method === 'GET' && path === '/api/version' && options.ollama) {
      sendJson(res, 200, { version: options.ollama.version });
      return;
    }
    if (req.method === 'GET' && path === '/v1/models') {
      sendJson(res, 200, {
        object: 'list',
        data: [{ id: model, object: 'model', created: 1_700_000_000, owned_by: 'vllm', root: model }],
      });
      return;
    }
    if (req.method !== 'POST' || path !== '/v1/chat/completions') {
      sendError(res, 404, 'NotFoundError', `Not Found: ${path}`);
      return;
    }
    const request = body as ChatBody | undefined;
    if (!request || !Array.isArray(request.messages)) {
      sendError(res, 400, 'BadRequestError', 'messages: Field required');
      return;
    }
    if (request.model !== model) {
      sendError(res, 404, 'NotFoundError', `The model \`${String(request.model)}\` does not exist.`);
      return;
    }
    const urls = imageUrls(request.messages);
    const facts = await Promise.all(
      urls.map((url) => imageFacts(decodeImageRef(url)).catch(() => undefined)),
    );
    recorded.images = facts.filter((fact): fact is ImageFacts => fact !== undefined);
    const last = facts.at(-1);
    if (last) recorded.image = last;
    // vLLM checks --limit-mm-per-prompt before anything else (vllm/multimodal/parse.py).
    if (options.maxImagesPerPrompt !== undefined && urls.length > options.maxImagesPerPrompt) {
      const n = options.maxImagesPerPrompt;
      sendError(
        res,
        400,
        'BadRequestError',
        `At most ${n} image(s) may be provided in one prompt. Set \`--limit-mm-per-prompt\` to increase this limit.`,
      );
      return;
    }
    const reasoning = (body as { reasoning_effort?: unknown }).reasoning_effort;
    if (options.ollama?.refusesReasoningEffort && reasoning !== undefined) {
      sendError(
        res,
        400,
        'invalid_request_error',
        `invalid reasoning_effort value: ${JSON.stringify(reasoning)}`,
      );
      return;
    }
    const probe = request.max_tokens === 1 && request.logprobs === true;
    recorded.kind = probe ? 'probe' : 'read';
    inFlight++;
    peakInFlight = Math.max(peakInFlight, inFlight);
    res.on('close', () => {
      inFlight--;
    });
    if (options.delayMs) await new Promise((resolve) => setTimeout(resolve, options.delayMs));

    if (mode === 'hang') {
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    }
    if (mode === '503' || mode === '503-once' || mode === '429-once') {
      const status = mode === '429-once' ? 429 : 503;
      if (mode !== '503') mode = 'ok';
      const retryAfter = { 'retry-after': String(modeArg ?? 0) };
      if (status === 429) sendError(res, 429, 'TooManyRequests', 'Too many requests', retryAfter);
      else sendError(res, 503, 'ServiceUnavailableError', 'Service Unavailable', retryAfter);
      return;
    }
    if (mode === 'reset-once') {
      mode = 'ok';
      res.socket?.destroy();
      return;
    }
    if (mode === 'engine-dead-once') {
      mode = 'ok';
      // vllm/v1/engine/exceptions.py EngineDeadError; ollama/llm/server.go when the runner exits.
      if (options.deathStyle === 'ollama') {
        sendJson(res, 500, { error: 'llama runner process has terminated: exit status 2' });
      } else {
        sendError(
          res,
          500,
          'InternalServerError',
          'EngineCore encountered an issue. See stack trace (above) for the root cause.',
        );
      }
      return;
    }
    // Every image of the request counts towards memory and context, as on a real server.
    const imageTokens = recorded.images.reduce((sum, image) => sum + image.tokens, 0);
    if (mode === 'oom-above' && imageTokens > (modeArg ?? 0)) {
      if (options.oomStyle === 'encoder-cache') {
        // vllm/v1/engine/processor.py: the image's embeddings do not fit the encoder cache (HTTP 400).
        sendError(
          res,
          400,
          'BadRequestError',
          `The decoder prompt contains a(n) image item with length ${imageTokens}, which exceeds the pre-allocated encoder cache size ${modeArg ?? 0}. Please reduce the input size or increase the encoder cache size by setting --limit-mm-per-prompt at startup.`,
        );
      } else if (options.oomStyle === 'context') {
        const total = imageTokens + 200;
        sendError(
          res,
          400,
          'BadRequestError',
          `This model's maximum context length is ${modeArg ?? 0} tokens. However, you requested ${total} tokens (${total - 100} in the messages, 100 in the completion). Please reduce the length of the messages or completion.`,
        );
      } else {
        sendError(
          res,
          500,
          'InternalServerError',
          'CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 23.64 GiB total capacity)',
        );
      }
      return;
    }
    const promptTokens = imageTokens + Math.ceil(JSON.stringify(request.messages).length / 4);
    if (probe && options.ollama?.thinking && reasoning !== 'none') {
      // A thinking model spends its one token opening the thinking block: no Yes or No in sight.
      const top = ['<think>', '\n', 'Okay'].map((token, i) => ({
        token,
        logprob: Math.log(0.9 / 3 ** i),
        bytes: [],
      }));
      const answer = completion(model, '<think>', 'length', promptTokens, 1);
      answer.choices[0]!.logprobs = { content: [{ ...top[0]!, top_logprobs: top }] };
      sendJson(res, 200, answer);
      return;
    }
    if (probe) {
      sendJson(res, 200, probeCompletion(model, request, recorded.image, promptTokens, options));
      return;
    }
    let content: string;
    let finish = 'stop';
    if (mode === 'malformed' || mode === 'malformed-once') {
      if (mode === 'malformed-once') mode = 'ok';
      content = '{"findings": [{"label": "Pulmonary nodule", "location": "right upper';
    } else if (mode === 'loop' || mode === 'loop-once') {
      if (mode === 'loop-once') mode = 'ok';
      content = `{"findings": [{"label": "${'nodule '.repeat(Math.max(8, (request.max_tokens ?? 64) / 2))}`;
      finish = 'length';
    } else {
      content = JSON.stringify(readAnswer(recorded.image, options));
    }
    sendJson(res, 200, completion(model, content, finish, promptTokens, Math.ceil(content.length / 4)));
  };

  const server = restartableServer(
    handle,
    (res) => sendError(res, 500, 'InternalServerError', 'fake server failure'),
    hanging,
  );
  const { listen, stop } = server;

  await listen();
  return {
    url: `http://127.0.0.1:${server.port}/v1`,
    requests,
    get peakInFlight() {
      return peakInFlight;
    },
    async setMode(next, arg) {
      const wasDown = mode === 'down';
      mode = next;
      modeArg = arg;
      if (next === 'down' && !wasDown) await stop();
      if (next !== 'down' && wasDown) await listen();
    },
    close: stop,
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function flattenHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(req.headers)) {
    if (value !== undefined) out[key] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}
