import { afterAll, afterEach, beforeAll } from 'vitest';
import { createSlackAdapter, type SlackAdapter } from '../../../adapters/slack/index.ts';
import { type Config, loadConfig } from '../../../src/config.ts';
import { silentLogger } from '../../../src/log.ts';
import { type FakeSlack, startFakeSlack } from '../../fakes/slack-server.ts';
import { deliverSlack, eventEnvelope } from '../../helpers/slack-sign.ts';
import { type CoreDouble, createCoreDouble } from './core-double.ts';

/** The real Bolt app in HTTP mode over loopback, a fake Slack Web API, and a BotCore double. */

export const SECRET = 'test-signing-secret';
export const TOKEN = 'xoxb-test-token';
export const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');

export interface AdapterSuite {
  fake: FakeSlack;
  adapter: SlackAdapter;
  core: CoreDouble;
  eventsUrl: string;
  configFor(overrides?: Record<string, string>): Config;
  nextTs(): string;
  mention(ts: string, files?: unknown[]): Record<string, unknown>;
  send(
    event: Record<string, unknown>,
    options?: Parameters<typeof deliverSlack>[2],
    eventId?: string,
  ): Promise<Response>;
}

/** Registers the suite's hooks; the returned object is filled in by beforeAll. */
export function useAdapterSuite(): AdapterSuite {
  let tsSeq = 0;
  const suite = {
    configFor: (overrides: Record<string, string> = {}) =>
      loadConfig({
        SLACK_BOT_TOKEN: TOKEN,
        SLACK_SIGNING_SECRET: SECRET,
        SLACK_MODE: 'http',
        SLACK_PORT: '0',
        SLACK_API_URL: suite.fake.apiUrl,
        SLACK_FILE_HOSTS: suite.fake.origin,
        ...overrides,
      }),
    nextTs: () => `1700000${String(++tsSeq).padStart(3, '0')}.000100`,
    mention: (ts: string, files?: unknown[]) => ({
      type: 'app_mention',
      channel: 'C1',
      user: 'U1',
      text: `<@${suite.fake.botUserId}> what is this?`,
      ts,
      files: files ?? [suite.fake.addFile(PNG)],
    }),
    send: (
      event: Record<string, unknown>,
      options: Parameters<typeof deliverSlack>[2] = {},
      eventId?: string,
    ) =>
      deliverSlack(
        suite.eventsUrl,
        { json: eventEnvelope(event, eventId) },
        { signingSecret: SECRET, ...options },
      ),
  } as unknown as AdapterSuite;

  beforeAll(async () => {
    suite.fake = await startFakeSlack({ botToken: TOKEN });
    suite.core = createCoreDouble();
    suite.adapter = createSlackAdapter(suite.configFor(), {
      logger: silentLogger,
      host: '127.0.0.1',
      paceMs: 0,
      webRetry: { retries: 2, minTimeout: 10, maxTimeout: 50, randomize: false },
    });
    await suite.adapter.start(suite.core);
    suite.eventsUrl = `http://127.0.0.1:${suite.adapter.httpAddress()!.port}/slack/events`;
  });
  afterAll(async () => {
    await suite.adapter?.stop();
    await suite.fake?.close();
  });
  afterEach(() => {
    suite.core.handled.length = 0;
    suite.core.handleDelayMs = 0;
    suite.fake.calls.length = 0;
  });
  return suite;
}
