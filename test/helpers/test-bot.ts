import { type Config, type Env, loadConfig } from '../../src/config.ts';
import { createBotCore, type RunningBotCore } from '../../src/core/bot.ts';
import type { Timers } from '../../src/core/escalation/timers.ts';
import type { Engine } from '../../src/core/types.ts';
import { createDispatcher } from '../../src/dispatch/index.ts';
import type { Dispatcher } from '../../src/dispatch/types.ts';
import { createEngine, PROMPT_VERSION } from '../../src/engine/index.ts';
import { prepareImage } from '../../src/ingest/index.ts';
import { prepareStudy } from '../../src/ingest/study/index.ts';
import { type Logger, silentLogger } from '../../src/log.ts';
import { openStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/types.ts';

export interface TestBotOptions {
  /** Base URL of an OpenAI-compatible server, e.g. startFakeOpenAI().url. */
  engineUrl: string;
  /** A fresh temporary folder per test. */
  dataDir: string;
  /** Extra environment (ALLOWED_CHANNELS, DISCORD_PHI, ENGINE_CONCURRENCY…), parsed like the real one. */
  config?: Partial<Env>;
  logger?: Logger;
  /** Replace the real engine (e.g. a gated one a test releases by hand). */
  engine?: Engine;
  /** Least time between two queue-position edits (default 0 in tests: every change is shown). */
  statusEditIntervalMs?: number;
  /** The critical-result escalation's timers (test/helpers/fake-timers.ts). */
  timers?: Timers;
}

export interface TestBot {
  core: RunningBotCore;
  config: Config;
  store: Store;
  dispatcher: Dispatcher;
  engine: Engine;
  close(): Promise<void>;
}

/**
 * The real bot core (store, dispatcher, engine client, image pipeline) wired like `quickread start`,
 * for adapter integration tests: attach your adapter to `core`, call `core.start()`, then drive the
 * adapter through its real transport. Health polling is fast so an engine outage test resolves quickly.
 */
export async function createTestBot(options: TestBotOptions): Promise<TestBot> {
  const logger = options.logger ?? silentLogger;
  const config = loadConfig({
    LOG_LEVEL: 'silent',
    CONSOLE_PORT: '0',
    ...options.config,
    DATA_DIR: options.dataDir,
    ENGINE_URL: options.engineUrl,
  });
  const engine =
    options.engine ?? createEngine(config, { logger, retry: { attempts: 1, baseMs: 10, maxWaitMs: 50 } });
  const store = await openStore(config.DATA_DIR, { logger });
  const dispatcher = createDispatcher({ engine, config, logger, healthPollMs: { min: 50, max: 500 } });
  const core = createBotCore({
    config,
    logger,
    store,
    dispatcher,
    engine,
    prepare: prepareImage,
    prepareStudy,
    promptVersion: PROMPT_VERSION,
    statusEditIntervalMs: options.statusEditIntervalMs ?? 0,
    ...(options.timers ? { timers: options.timers } : {}),
  });
  let closed = false;
  return {
    core,
    config,
    store,
    dispatcher,
    engine,
    async close() {
      if (closed) return;
      closed = true;
      await core.stop();
      await store.close();
      await engine.close?.();
    },
  };
}
