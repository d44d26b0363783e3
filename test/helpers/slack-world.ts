import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSlackAdapter, type SlackAdapter } from '../../adapters/slack/index.ts';
import { silentLogger } from '../../src/log.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../fakes/openai-server.ts';
import { type FakeSlack, startFakeSlack } from '../fakes/slack-server.ts';
import { createTestBot, type TestBot } from './test-bot.ts';

/** The real bot and the real Slack adapter in HTTP mode, between a fake Slack and a fake vLLM on 127.0.0.1. */
export interface SlackWorld {
  dir: string;
  engine: FakeOpenAI;
  slack: FakeSlack;
  bot: TestBot;
  adapter: SlackAdapter;
  /** Where signed Events API deliveries go. */
  eventsUrl: string;
  close(): Promise<void>;
}

export async function startSlackWorld(options: {
  tempPrefix: string;
  botToken: string;
  signingSecret: string;
}): Promise<SlackWorld> {
  const dir = await mkdtemp(join(tmpdir(), options.tempPrefix));
  const engine = await startFakeOpenAI();
  const slack = await startFakeSlack({ botToken: options.botToken });
  const bot = await createTestBot({
    engineUrl: engine.url,
    dataDir: join(dir, 'data'),
    config: {
      BURNED_IN_TEXT: 'flag',
      SLACK_BOT_TOKEN: options.botToken,
      SLACK_SIGNING_SECRET: options.signingSecret,
      SLACK_MODE: 'http',
      SLACK_PORT: '0',
      SLACK_API_URL: slack.apiUrl,
      SLACK_FILE_HOSTS: slack.origin,
    },
  });
  const adapter = createSlackAdapter(bot.config, {
    logger: silentLogger,
    host: '127.0.0.1',
    paceMs: 0,
    webRetry: { retries: 3, minTimeout: 10, maxTimeout: 50, randomize: false },
  });
  bot.core.attach(adapter);
  await adapter.start(bot.core);
  await bot.core.start();
  return {
    dir,
    engine,
    slack,
    bot,
    adapter,
    eventsUrl: `http://127.0.0.1:${adapter.httpAddress()!.port}/slack/events`,
    async close() {
      await adapter.stop();
      await bot.close();
      await slack.close();
      await engine.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
