import { createConsoleAdapter } from '../adapters/console/index.ts';
import { createDiscordAdapter } from '../adapters/discord/index.ts';
import { createSlackAdapter } from '../adapters/slack/index.ts';
import { createTeamsAdapter } from '../adapters/teams/index.ts';
import { createMetrics } from './api/metrics.ts';
import { createOpsRoutes } from './api/ops.ts';
import { vllmCommand } from './commands/doctor.ts';
import type { CommandIO } from './commands/output.ts';
import { type Config, enabledPlatforms } from './config.ts';
import type { ChatAdapter } from './core/adapter.ts';
import { createBotCore } from './core/bot.ts';
import type { Engine } from './core/types.ts';
import { createDispatcher } from './dispatch/index.ts';
import { endpointLabel } from './engine/endpoints.ts';
import { createEngines, endpointsOf, PROMPT_VERSION } from './engine/index.ts';
import { closeIngestWorkers, prepareImage } from './ingest/index.ts';
import { prepareStudy } from './ingest/study/index.ts';
import { createLogger, type Logger } from './log.ts';
import { openConfiguredStore } from './store/open.ts';

export interface StartDeps {
  logger?: Logger;
  /** Resolves when the bot should stop; default: SIGINT or SIGTERM. */
  until?: Promise<unknown>;
  engine?: Engine;
}

/**
 * Composition root (DESIGN §1): config → logger → store → engine → dispatcher → bot core → adapters.
 * The only module that wires adapters in. The store and the dispatcher are chosen here, so a
 * Redis-backed store or a clustered limiter (DESIGN §8) replaces them without touching the rest.
 */
export async function runStart(config: Config, io: CommandIO, deps: StartDeps = {}): Promise<number> {
  const logger = deps.logger ?? createLogger({ level: config.LOG_LEVEL });
  const store = await openConfiguredStore(config, { logger });
  // One engine per endpoint (ENGINE_URLS); the first names the model in /status and the banner.
  const engines = deps.engine ? undefined : createEngines(config, { logger });
  const engine = deps.engine ?? engines![0]!.engine;
  const dispatcher = createDispatcher({ engine, ...(engines ? { engines } : {}), config, logger });
  const metrics = createMetrics(dispatcher);
  const extraRoutes = createOpsRoutes({
    metrics,
    metricsPublic: config.METRICS_PUBLIC,
    source: dispatcher,
    model: engine.model,
    promptVersion: PROMPT_VERSION,
    storage: () => store.health(),
  });
  const core = createBotCore({
    config,
    logger,
    store,
    dispatcher,
    engine,
    prepare: prepareImage,
    prepareStudy,
    promptVersion: PROMPT_VERSION,
  });
  const on = enabledPlatforms(config);
  const adapters: ChatAdapter[] = [];
  const hint = config.ENGINE === 'openai' ? vllmCommand(config) : undefined; // console's engine-down banner
  // ADAPTERS: one line per adapter
  if (on.slack) adapters.push(createSlackAdapter(config, { logger }));
  if (on.discord) adapters.push(createDiscordAdapter(config, { logger }));
  if (on.teams) adapters.push(createTeamsAdapter(config, { logger }));
  let signIn: string | undefined; // printed once, to the terminal only: it may hold the sign-in token
  const onListening = (_url: string, notice?: string) => {
    signIn = notice;
  };
  if (on.console)
    adapters.push(createConsoleAdapter(config, { logger, extraRoutes, engineCommand: hint, onListening }));

  const started: ChatAdapter[] = [];
  /**
   * The reverse order of start: the core stops producing first (new requests refused, in-flight reads
   * get `graceMs`, the rest stay owed for the next start), then the adapters, which have posted the last
   * answer by then, then the store, the engine and the workers.
   */
  const shutdown = async (graceMs = 0) => {
    await core.stop({ graceMs }).catch((error) => logger.error({ err: error }, 'core stop failed'));
    for (const adapter of started.reverse())
      await adapter.stop().catch((error) => logger.error({ err: error }, 'adapter stop failed'));
    await store.close().catch((error) => logger.error({ err: error }, 'store close failed'));
    for (const each of engines?.map((endpoint) => endpoint.engine) ?? [engine]) await each.close?.();
    await closeIngestWorkers();
    metrics.close();
  };
  try {
    for (const adapter of adapters) core.attach(adapter);
    for (const adapter of adapters) {
      await adapter.start(core);
      started.push(adapter);
    }
    await core.start();
  } catch (error) {
    await shutdown();
    throw error;
  }

  const health = await startupHealth(engines?.map((endpoint) => endpoint.engine) ?? [engine]);
  if (!health.ok) dispatcher.engineUnavailable();
  const where =
    config.ENGINE === 'onnx'
      ? `in process from ${config.MODEL_DIR || '(MODEL_DIR unset)'}`
      : `at ${endpointsOf(config)
          .map((endpoint) => endpointLabel(endpoint.url))
          .join(', ')}`;
  io.out(`quickread started · model ${engine.model} · prompt ${PROMPT_VERSION} · data ${config.DATA_DIR}`);
  io.out(
    health.ok
      ? `engine: ${engine.id} ready ${where}`
      : `engine: not ready ${where}; requests wait in the queue and are read when it is back`,
  );
  if (!health.ok && hint) io.out(`  start one on the GPU machine, e.g.: ${hint}`);
  else if (!health.ok && health.detail) io.out(`  ${health.detail}`);
  io.out(
    adapters.length > 0
      ? `adapters on: ${adapters.map((adapter) => adapter.platform).join(', ')}`
      : 'adapters on: none (set SLACK_BOT_TOKEN, DISCORD_TOKEN, TEAMS_APP_ID or CONSOLE_PORT)',
  );
  for (const adapter of adapters) if (adapter.url) io.out(`${adapter.platform}: ${adapter.url}`);
  if (signIn) io.out(signIn);

  // Signal handlers do not keep Node alive; with no adapter listening the loop would empty and exit.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  const stopTimeoutMs = config.STOP_TIMEOUT_S * 1000;
  const signals = deps.until ? undefined : listenForStop(io);
  const signal = await (deps.until ?? signals!.first);
  clearInterval(keepAlive);
  io.out(
    `quickread stopping${typeof signal === 'string' ? ` (${signal})` : ''}; reads in progress get up to ${config.STOP_TIMEOUT_S} s, queued requests resume on the next start`,
  );
  // Bounded whatever hangs: gone STOP_TIMEOUT_S + 10 s after the signal (owed work resumes on the next start).
  const watchdog = signals
    ? setTimeout(() => {
        io.err('quickread: stop took too long; exiting (owed requests resume on the next start)');
        process.exit(0);
      }, stopTimeoutMs + 10_000).unref()
    : undefined;
  await shutdown(stopTimeoutMs);
  clearTimeout(watchdog);
  signals?.dispose();
  // A socket or timer some library left open must not keep a stopped bot alive.
  if (signals) setTimeout(() => process.exit(0), 2000).unref();
  return 0;
}

/** The first SIGINT/SIGTERM starts an orderly stop; a second one exits at once. */
function listenForStop(io: CommandIO): { first: Promise<string>; dispose(): void } {
  let seen = 0;
  let resolveFirst: (name: string) => void = () => undefined;
  const first = new Promise<string>((resolve) => {
    resolveFirst = resolve;
  });
  const handler = (name: NodeJS.Signals) => {
    seen += 1;
    if (seen === 1) return resolveFirst(name);
    io.err(`quickread: ${name} again; exiting now (owed requests resume on the next start)`);
    process.exit(0);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    first,
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

/** Ready when some endpoint answers; an endpoint that does not is polled by its gate once a read fails. */
async function startupHealth(engines: readonly Engine[]): Promise<{ ok: boolean; detail?: string }> {
  const checks = await Promise.all(
    engines.map((each) =>
      each.health(AbortSignal.timeout(3000)).catch(() => ({ ok: false, detail: 'unreachable' })),
    ),
  );
  return checks.find((check) => check.ok) ?? checks[0] ?? { ok: false };
}
