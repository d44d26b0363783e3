import { createConsoleAdapter } from '../adapters/console/index.ts';
import { createDiscordAdapter } from '../adapters/discord/index.ts';
import { createSlackAdapter } from '../adapters/slack/index.ts';
import { createMetrics } from './api/metrics.ts';
import { createOpsRoutes } from './api/ops.ts';
import { vllmCommand } from './commands/doctor.ts';
import type { CommandIO } from './commands/output.ts';
import { type Config, enabledPlatforms } from './config.ts';
import type { ChatAdapter } from './core/adapter.ts';
import { createBotCore } from './core/bot.ts';
import type { Engine } from './core/types.ts';
import { createDispatcher } from './dispatch/index.ts';
import { createEngine, PROMPT_VERSION } from './engine/index.ts';
import { closeIngestWorkers, prepareImage } from './ingest/index.ts';
import { prepareStudy } from './ingest/study/index.ts';
import { createLogger, type Logger } from './log.ts';
import { openStore } from './store/index.ts';

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
  const store = await openStore(config.DATA_DIR, { logger });
  const engine = deps.engine ?? createEngine(config, { logger });
  const dispatcher = createDispatcher({ engine, config, logger });
  const metrics = createMetrics(dispatcher);
  const extraRoutes = createOpsRoutes({
    metrics,
    source: dispatcher,
    model: engine.model,
    promptVersion: PROMPT_VERSION,
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
  if (on.console) adapters.push(createConsoleAdapter(config, { logger, extraRoutes, engineCommand: hint }));

  const started: ChatAdapter[] = [];
  const shutdown = async () => {
    for (const adapter of started.reverse())
      await adapter.stop().catch((error) => logger.error({ err: error }, 'adapter stop failed'));
    await core.stop();
    await store.close();
    await engine.close?.();
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

  const health = await engine
    .health(AbortSignal.timeout(3000))
    .catch(() => ({ ok: false, detail: 'unreachable' }));
  if (!health.ok) dispatcher.engineUnavailable();
  const where =
    config.ENGINE === 'onnx'
      ? `in process from ${config.MODEL_DIR || '(MODEL_DIR unset)'}`
      : `at ${config.ENGINE_URL}`;
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
      : 'adapters on: none (set SLACK_BOT_TOKEN, DISCORD_TOKEN or CONSOLE_PORT)',
  );
  for (const adapter of adapters) if (adapter.url) io.out(`${adapter.platform}: ${adapter.url}`);

  // Signal handlers do not keep Node alive; with no adapter listening the loop would empty and exit.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  const signal = await (deps.until ?? waitForSignal());
  clearInterval(keepAlive);
  io.out(
    `quickread stopping${typeof signal === 'string' ? ` (${signal})` : ''}; queued requests resume on the next start`,
  );
  await shutdown();
  return 0;
}

function waitForSignal(): Promise<string> {
  return new Promise((resolve) => {
    const handler = (name: NodeJS.Signals) => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
      resolve(name);
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  });
}
