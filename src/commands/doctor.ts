import { randomUUID } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Config } from '../config.ts';
import { loadRotas } from '../core/escalation/rota.ts';
import type { PageTarget } from '../core/escalation/targets.ts';
import type { DoctorCheck } from '../engine/doctor-check.ts';
import { AppError } from '../errors.ts';
import { checkConsoleExposure } from '../net/http-guard.ts';
import { checkStudyImages, limitMmPerPrompt } from './doctor-images.ts';
import { checkTeams } from './doctor-teams.ts';
import type { CommandIO } from './output.ts';

export interface DoctorDeps {
  fetch?: typeof fetch;
  timeoutMs?: number;
}

/** The vLLM command that serves the configured model with an image budget matching MAX_IMAGE_SIZE. */
export function vllmCommand(config: Config): string {
  const port = safePort(config.ENGINE_URL) ?? 8000;
  const maxPixels = config.MAX_IMAGE_SIZE * config.MAX_IMAGE_SIZE;
  // Image tokens (a study's budget, or one image at MAX_IMAGE_SIZE) + ~1,100 prompt + 1,500 answer +
  // 2,048 history (README), rounded up to a power of two: 8192 by default, 16384 for 2048-px images.
  const imageTokens = Math.max(config.STUDY_MAX_TOKENS, (config.MAX_IMAGE_SIZE / 32) ** 2);
  const modelLen = 2 ** Math.ceil(Math.log2(Math.max(8192, imageTokens + 4650)));
  return [
    `vllm serve ${config.ENGINE_MODEL} --port ${port}`,
    `--max-model-len ${modelLen} --limit-mm-per-prompt ${limitMmPerPrompt(config)}`,
    `--mm-processor-kwargs '{"max_pixels":${maxPixels}}' --gpu-memory-utilization 0.90`,
  ].join(' ');
}

function safePort(url: string): number | undefined {
  try {
    const parsed = new URL(url);
    return parsed.port === '' ? undefined : Number(parsed.port);
  } catch {
    return undefined;
  }
}

async function checkDataDir(config: Config): Promise<DoctorCheck> {
  const dir = resolve(config.DATA_DIR);
  const probe = join(dir, `.doctor-${randomUUID()}`);
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(probe, 'ok');
    await rm(probe);
    return { name: 'data dir', ok: true, detail: `${dir} is writable` };
  } catch {
    return {
      name: 'data dir',
      ok: false,
      detail: `${dir} is not writable`,
      fix: 'Set DATA_DIR to a folder this user can write, or fix its permissions.',
    };
  }
}

/** Every endpoint (ENGINE_URLS, else ENGINE_URL) serves its model; checked at once, reported in order. */
export async function checkOpenAiEngine(config: Config, deps: DoctorDeps = {}): Promise<DoctorCheck[]> {
  const { endpointsOf } = await import('../engine/index.ts');
  const checks = await Promise.all(
    endpointsOf(config).map((endpoint) => checkOpenAiEndpoint(config, endpoint, deps)),
  );
  return checks.flat();
}

/**
 * GET {url}/models and check the endpoint's model is listed (OpenAI-compatible servers). The endpoint is
 * named by its label: credentials in its URL go in a header and never into the report.
 */
async function checkOpenAiEndpoint(
  config: Config,
  endpoint: { url: string; model: string },
  deps: DoctorDeps,
): Promise<DoctorCheck[]> {
  const { endpointAuth, endpointLabel } = await import('../engine/endpoints.ts');
  const doFetch = deps.fetch ?? fetch;
  const { url, authorization } = endpointAuth(endpoint.url);
  const base = endpointLabel(endpoint.url);
  const headers: Record<string, string> = {};
  if (config.ENGINE_API_KEY !== '') headers.authorization = `Bearer ${config.ENGINE_API_KEY}`;
  else if (authorization) headers.authorization = authorization;
  let response: Response;
  try {
    response = await doFetch(`${url.replace(/\/+$/, '')}/models`, {
      headers,
      signal: AbortSignal.timeout(deps.timeoutMs ?? 5000),
    });
  } catch {
    return [
      {
        name: 'engine',
        ok: false,
        detail: `no model server answers at ${base}`,
        fix: `Start one on the GPU machine, e.g.:\n      ${vllmCommand(config)}\n    or set ENGINE_URL to where it runs (Ollama: http://127.0.0.1:11434/v1).`,
      },
    ];
  }
  if (response.status === 401 || response.status === 403) {
    return [
      {
        name: 'engine',
        ok: false,
        detail: `the model server at ${base} refused the API key (HTTP ${response.status})`,
        fix: 'Set ENGINE_API_KEY to the key the server was started with.',
      },
    ];
  }
  if (!response.ok) {
    return [
      {
        name: 'engine',
        ok: false,
        detail: `GET ${base}/models answered HTTP ${response.status}`,
        fix: 'Check that ENGINE_URL points at an OpenAI-compatible base URL ending in /v1.',
      },
    ];
  }
  const body = (await response.json().catch(() => undefined)) as
    | { data?: Array<{ id?: unknown }> }
    | undefined;
  const served = (body?.data ?? []).map((model) => String(model.id));
  const reachable: DoctorCheck = { name: 'engine', ok: true, detail: `model server reachable at ${base}` };
  if (served.includes(endpoint.model)) {
    // The probe and study checks read ENGINE_URL/ENGINE_MODEL: point them at this endpoint (credentials
    // stripped; a Basic-auth endpoint needs ENGINE_API_KEY for these two checks).
    const here = { ...config, ENGINE_URLS: '', ENGINE_URL: url, ENGINE_MODEL: endpoint.model };
    const { checkConfidenceProbes } = await import('../engine/openai/probe-check.ts');
    const probes = await checkConfidenceProbes(here, deps);
    return [
      reachable,
      { name: 'model', ok: true, detail: `${base} serves ${endpoint.model}` },
      { name: 'confidence', ...probes },
      await checkStudyImages(here, deps),
    ];
  }
  return [
    reachable,
    {
      name: 'model',
      ok: false,
      detail: `the server at ${base} does not serve ${endpoint.model} (it serves: ${served.join(', ') || 'nothing'})`,
      fix: 'Set ENGINE_MODEL to one of the served names, or start the server with the configured model.',
    },
  ];
}

function checkCredentials(config: Config): DoctorCheck[] {
  const checks: DoctorCheck[] = [];
  if (config.SLACK_BOT_TOKEN === '') {
    checks.push({ name: 'slack', ok: true, detail: 'off (SLACK_BOT_TOKEN not set)' });
  } else if (config.SLACK_MODE === 'socket' && config.SLACK_APP_TOKEN === '') {
    checks.push({
      name: 'slack',
      ok: false,
      detail: 'Socket Mode needs an app-level token',
      fix: 'Set SLACK_APP_TOKEN (xapp-…, scope connections:write) or SLACK_MODE=http.',
    });
  } else if (config.SLACK_MODE === 'http' && config.SLACK_SIGNING_SECRET === '') {
    checks.push({
      name: 'slack',
      ok: false,
      detail: 'HTTP mode needs the signing secret',
      fix: 'Set SLACK_SIGNING_SECRET from the app’s Basic Information page.',
    });
  } else {
    checks.push({ name: 'slack', ok: true, detail: `on (${config.SLACK_MODE} mode)` });
  }
  if (config.DISCORD_TOKEN === '') {
    checks.push({ name: 'discord', ok: true, detail: 'off (DISCORD_TOKEN not set)' });
  } else if (config.DISCORD_APP_ID === '') {
    checks.push({
      name: 'discord',
      ok: false,
      detail: 'slash commands need the application id',
      fix: 'Set DISCORD_APP_ID from the Discord developer portal.',
    });
  } else {
    checks.push({ name: 'discord', ok: true, detail: 'on' });
  }
  return checks;
}

/** Who can reach the console, and whether that is allowed (the start refuses what fails here). */
function checkConsoleAccess(config: Config): DoctorCheck {
  const name = 'console access';
  if (config.CONSOLE_PORT === 0) return { name, ok: true, detail: 'console off (CONSOLE_PORT=0)' };
  try {
    checkConsoleExposure(config);
  } catch (error) {
    const message = error instanceof AppError ? error.userMessage : 'not allowed';
    return { name, ok: false, detail: `${config.CONSOLE_HOST} without a usable sign-in`, fix: message };
  }
  const signIn =
    config.CONSOLE_AUTH === 'none' ? 'this machine only, no sign-in' : `sign-in: ${config.CONSOLE_AUTH}`;
  return { name, ok: true, detail: `${config.CONSOLE_HOST}:${config.CONSOLE_PORT} · ${signIn}` };
}

export type EngineCheck = (config: Config, deps: DoctorDeps) => Promise<DoctorCheck[]>;

/** The prompt files load and validate (front matter, declared variables, version). */
async function checkPrompts(): Promise<DoctorCheck> {
  const { loadPrompts, PROMPT_VERSION } = await import('../engine/prompts.ts');
  try {
    loadPrompts();
    return { name: 'prompts', ok: true, detail: `${PROMPT_VERSION} and its templates are valid` };
  } catch (error) {
    return {
      name: 'prompts',
      ok: false,
      detail: error instanceof AppError ? error.userMessage : 'the prompt files could not be loaded',
      fix: 'Restore the prompts/ folder from the release, or fix the file named above.',
    };
  }
}

/** The visualqa service answers (GET /healthz; a service without it counts as up when it answers 404). */
async function checkVisualQaEngine(config: Config, deps: DoctorDeps = {}): Promise<DoctorCheck[]> {
  const { createEngine } = await import('../engine/index.ts');
  const { silentLogger } = await import('../log.ts');
  const engine = createEngine(config, { logger: silentLogger, ...(deps.fetch ? { fetch: deps.fetch } : {}) });
  const health = await engine.health(AbortSignal.timeout(deps.timeoutMs ?? 5000));
  if (health.ok)
    return [{ name: 'engine', ok: true, detail: `visualqa service reachable at ${config.ENGINE_URL}` }];
  return [
    {
      name: 'engine',
      ok: false,
      detail: `the visualqa service at ${config.ENGINE_URL} does not answer (${health.detail ?? 'unreachable'})`,
      fix: 'Start the :7860 service, or set ENGINE_URL to where it runs.',
    },
  ];
}

/** Engine checks by engine kind; later engines register theirs here. */
export const engineChecks: Record<Config['ENGINE'], EngineCheck> = {
  openai: async (config, deps) => [...(await checkOpenAiEngine(config, deps)), await checkPrompts()],
  visualqa: async (config, deps) => [...(await checkVisualQaEngine(config, deps)), await checkPrompts()],
  onnx: async (config) => {
    const { checkOnnxEngine } = await import('../engine/onnx/doctor.ts');
    return [...(await checkOnnxEngine(config)), await checkPrompts()];
  },
};

/** Who is paged for critical reads, per channel (issue 19); an unreadable ESCALATION_FILE fails. */
export function checkEscalation(config: Config): DoctorCheck[] {
  let rotas: ReturnType<typeof loadRotas>;
  try {
    rotas = loadRotas(config);
  } catch (error) {
    return [
      {
        name: 'critical results',
        ok: false,
        detail: error instanceof AppError ? error.userMessage : 'the escalation rota could not be loaded',
        fix: 'Fix ESCALATION_FILE or the CRITICAL_NOTIFY variables (README "Critical results").',
      },
    ];
  }
  const described = rotas.describe();
  if (described.length === 0)
    return [{ name: 'critical results', ok: true, detail: 'nobody is paged (CRITICAL_NOTIFY unset)' }];
  const who = (targets: PageTarget[]) =>
    targets.map((t) => `${t.platform}:${t.kind === 'group' ? 'group ' : ''}${t.id}`).join(', ') || 'none';
  return described.map(({ where, rota }) => ({
    name: `critical results (${where === 'default' ? 'default rota' : `channel ${where}`})`,
    ok: true,
    detail: `on call ${who(rota.onCall)}; backup ${who(rota.backup)}; escalates after ${rotas.afterMin} min${rotas.includeUrgent ? ' (urgent reads too)' : ''}`,
  }));
}

export async function runDoctor(config: Config, io: CommandIO, deps: DoctorDeps = {}): Promise<number> {
  const checks: DoctorCheck[] = [{ name: 'config', ok: true, detail: 'all variables valid' }];
  checks.push(await checkDataDir(config));
  checks.push(...(await engineChecks[config.ENGINE](config, deps)));
  checks.push(...checkCredentials(config));
  checks.push(...checkEscalation(config));
  checks.push(...(await checkTeams(config, deps)));
  checks.push(checkConsoleAccess(config));
  for (const check of checks) {
    io.out(`${check.ok ? '✓' : '✗'} ${check.name}: ${check.detail}`);
    if (!check.ok && check.fix) io.out(`    fix: ${check.fix}`);
  }
  const failed = checks.filter((check) => !check.ok).length;
  io.out(failed === 0 ? 'All checks passed.' : `${failed} problem(s) found.`);
  return failed === 0 ? 0 : 1;
}
