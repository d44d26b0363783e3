import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config.ts';
import type {
  Engine,
  EngineHealth,
  InferenceInput,
  InferenceResult,
  ProbeInput,
  ProbeOutcome,
} from '../core/types.ts';
import type { EndpointEngine } from '../dispatch/types.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { endpointAuth, endpointLabel, parseEndpointList } from './endpoints.ts';
import { abortableSleep, DEFAULT_RETRY, type RetryPolicy } from './http.ts';
import { createOpenAiEngine, type EngineDeps, type EngineEndpoint } from './openai/index.ts';
import { defaultPrompts, type PromptSet } from './prompts.ts';
import { createVisualQaEngine } from './visualqa/index.ts';

export { PROMPT_VERSION } from './prompts.ts';

export interface CreateEngineDeps {
  logger: Logger;
  fetch?: typeof fetch;
  /** Retry policy for 429/503 (tests shrink it). */
  retry?: Partial<RetryPolicy>;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  random?: () => number;
  clock?: () => number;
  prompts?: PromptSet;
  /** Out-of-memory ladder floor in pixels (default 256). */
  floorPx?: number;
}

/**
 * Build the configured engine. Prompts are loaded and validated here, so a broken prompt file stops
 * start-up with CONFIG_INVALID rather than failing the first read. ENGINE=onnx is built by
 * src/engine/onnx/index.ts (`createOnnxEngine`) and loaded lazily: onnxruntime is heavy and optional.
 */
export function createEngine(config: Config, deps: CreateEngineDeps): Engine {
  const engineDeps = engineDepsOf(config, deps);
  if (config.ENGINE === 'onnx') return createLazyOnnxEngine(config, deps);
  return createHttpEngine(config.ENGINE, endpointOf(config), engineDeps);
}

function engineDepsOf(config: Config, deps: CreateEngineDeps): EngineDeps {
  return {
    fetch: deps.fetch ?? fetch,
    logger: deps.logger,
    timeoutMs: config.ENGINE_TIMEOUT_MS,
    retry: { ...DEFAULT_RETRY, ...deps.retry },
    headers: config.ENGINE_API_KEY === '' ? {} : { authorization: `Bearer ${config.ENGINE_API_KEY}` },
    sleep: deps.sleep ?? abortableSleep,
    random: deps.random ?? Math.random,
    prompts: deps.prompts ?? defaultPrompts(),
    dataDir: config.DATA_DIR,
    clock: deps.clock ?? Date.now,
    temperature: config.TEMPERATURE,
    maxSide: config.MAX_IMAGE_SIZE,
    ...(deps.floorPx ? { floorPx: deps.floorPx } : {}),
  };
}

/** One HTTP engine per endpoint; credentials in the URL become an Authorization header. */
function createHttpEngine(
  kind: 'openai' | 'visualqa',
  endpoint: EngineEndpoint,
  engineDeps: EngineDeps,
): Engine {
  const { url, authorization } = endpointAuth(endpoint.url);
  const deps =
    authorization === undefined || engineDeps.headers.authorization !== undefined
      ? engineDeps
      : { ...engineDeps, headers: { ...engineDeps.headers, authorization } };
  const plain = { ...endpoint, url };
  return kind === 'openai' ? createOpenAiEngine(plain, deps) : createVisualQaEngine(plain, deps);
}

/** The first configured model server as an endpoint (the one `ask` and single-endpoint tools use). */
export function endpointOf(config: Config): EngineEndpoint {
  return endpointsOf(config)[0]!;
}

/**
 * Every configured model server: ENGINE_URLS when set, else the one ENGINE_URL. ENGINE=onnx runs in
 * process and is always one endpoint.
 */
export function endpointsOf(config: Config): EngineEndpoint[] {
  const defaults = {
    url: config.ENGINE_URL,
    model: config.ENGINE_MODEL,
    concurrency: config.ENGINE_CONCURRENCY,
  };
  if (config.ENGINE === 'onnx') return [defaults];
  return parseEndpointList(config.ENGINE_URLS, defaults);
}

/**
 * One engine per configured endpoint, for the dispatcher's router. Each shares the prompts, retry policy
 * and data directory; each has its own health, slots and metrics label (credentials never in the label).
 */
export function createEngines(config: Config, deps: CreateEngineDeps): EndpointEngine[] {
  if (config.ENGINE === 'onnx' || config.ENGINE_URLS.trim() === '') {
    const endpoint = endpointOf(config);
    return [
      {
        label: endpointLabel(endpoint.url),
        concurrency: endpoint.concurrency,
        engine: createEngine(config, deps),
      },
    ];
  }
  return endpointsOf(config).map((endpoint) => ({
    label: endpointLabel(endpoint.url),
    concurrency: endpoint.concurrency,
    engine: createHttpEngine(config.ENGINE as 'openai' | 'visualqa', endpoint, engineDepsOf(config, deps)),
  }));
}

const ONNX_MODULE = new URL('./onnx/index.ts', import.meta.url);

type OnnxFactory = (config: Config, deps: CreateEngineDeps) => Engine | Promise<Engine>;

/** The onnx engine behind a lazy import, so onnxruntime-node loads only when ENGINE=onnx is used. */
function createLazyOnnxEngine(config: Config, deps: CreateEngineDeps): Engine {
  if (!existsSync(fileURLToPath(ONNX_MODULE))) {
    throw new AppError('NOT_IMPLEMENTED', 'src/engine/onnx/index.ts is missing', {
      userMessage:
        'ENGINE=onnx is not available in this build; use ENGINE=openai with a vLLM or Ollama server.',
    });
  }
  let loaded: Promise<Engine> | undefined;
  const load = () => {
    loaded ??= import(ONNX_MODULE.href).then((module: { createOnnxEngine?: OnnxFactory }) => {
      if (typeof module.createOnnxEngine !== 'function') {
        throw new AppError('NOT_IMPLEMENTED', 'src/engine/onnx/index.ts exports no createOnnxEngine', {
          userMessage: 'ENGINE=onnx is not available in this build.',
        });
      }
      return module.createOnnxEngine(config, deps);
    });
    return loaded;
  };
  return {
    id: 'onnx',
    model: config.MODEL_DIR || config.ENGINE_MODEL,
    async health(signal?: AbortSignal): Promise<EngineHealth> {
      try {
        return await (await load()).health(signal);
      } catch (error) {
        return {
          ok: false,
          code: error instanceof AppError ? error.code : 'INTERNAL',
          detail: error instanceof AppError ? error.userMessage : 'the onnx engine failed to load',
        };
      }
    },
    async infer(input: InferenceInput, signal: AbortSignal): Promise<InferenceResult> {
      return (await load()).infer(input, signal);
    },
    async probe(input: ProbeInput, signal: AbortSignal): Promise<ProbeOutcome[]> {
      const engine = await load();
      if (!engine.probe) return input.findings.map(() => ({ real: undefined, blank: undefined }));
      return engine.probe(input, signal);
    },
    async close() {
      if (loaded) await (await loaded).close?.();
    },
  };
}
