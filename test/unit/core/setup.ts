import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Env, loadConfig } from '../../../src/config.ts';
import { createBotCore } from '../../../src/core/bot.ts';
import type { PrepareFn } from '../../../src/core/job-deps.ts';
import type { InboundRequest, Platform } from '../../../src/core/types.ts';
import { createDispatcher } from '../../../src/dispatch/index.ts';
import { silentLogger } from '../../../src/log.ts';
import { openStore, type Store } from '../../../src/store/index.ts';
import { createTestEngine, fakePrepare } from '../../helpers/core-doubles.ts';
import { createRecordingAdapter, type RecordingAdapterOptions } from '../../helpers/recording-adapter.ts';

let counter = 0;

export function request(overrides: Partial<InboundRequest> = {}): InboundRequest {
  counter += 1;
  const id = `m${counter}`;
  return {
    eventId: `ev-${id}`,
    messageKey: `${overrides.platform ?? 'console'}:radiology:${id}`,
    platform: 'console',
    thread: { channelId: 'radiology', threadId: id },
    userId: 'U1',
    question: 'any nodule?',
    attachments: [
      { platform: 'console', fileId: `image-${id}`, url: `console-upload:${id}`, name: 'Doe^John.png' },
    ],
    receivedAt: new Date().toISOString(),
    ...overrides,
  };
}

export async function until(predicate: () => boolean | Promise<boolean>, timeoutMs = 4000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export interface BotSetupOptions {
  env?: Env;
  hold?: boolean;
  dataDir?: string;
  prepare?: PrepareFn;
  platform?: Platform;
  adapter?: RecordingAdapterOptions;
  start?: boolean;
  /** A store opened by the test (e.g. STORE=redis); default: the file store in dataDir. */
  store?: Store;
}

export async function setupBot(options: BotSetupOptions = {}) {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'qr-core-')));
  const config = loadConfig({ DATA_DIR: dataDir, CONSOLE_PORT: '0', ...options.env });
  const store = options.store ?? (await openStore(dataDir, { logger: silentLogger }));
  const engine = createTestEngine({ hold: options.hold ?? false });
  const dispatcher = createDispatcher({
    engine,
    config,
    logger: silentLogger,
    healthPollMs: { min: 10, max: 40 },
  });
  const core = createBotCore({
    config,
    logger: silentLogger,
    store,
    dispatcher,
    engine,
    prepare: options.prepare ?? fakePrepare,
    promptVersion: 'radiologist@test',
    statusEditIntervalMs: 0,
    resumeRetryMs: 50,
  });
  const adapter = createRecordingAdapter({ platform: options.platform ?? 'console', ...options.adapter });
  core.attach(adapter);
  await adapter.start(core);
  if (options.start ?? true) await core.start();
  let closed = false;
  return {
    dataDir,
    config,
    store,
    engine,
    dispatcher,
    core,
    adapter,
    async close(removeDir = true) {
      if (!closed) {
        closed = true;
        await core.stop();
        await store.close();
      }
      if (removeDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
