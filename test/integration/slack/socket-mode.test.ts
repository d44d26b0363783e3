import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSlackAdapter, type SlackAdapter } from '../../../adapters/slack/index.ts';
import { loadConfig } from '../../../src/config.ts';
import { silentLogger } from '../../../src/log.ts';
import { type FakeSlack, startFakeSlack } from '../../fakes/slack-server.ts';
import { eventEnvelope } from '../../helpers/slack-sign.ts';
import { type CoreDouble, createCoreDouble } from './core-double.ts';

/** Socket Mode end to end: the real SocketModeClient connects to the fake over a loopback WebSocket. */

const TOKEN = 'xoxb-socket-test';
const APP_TOKEN = 'xapp-1-socket-test';
let fake: FakeSlack;
let adapter: SlackAdapter;
let core: CoreDouble;

beforeAll(async () => {
  fake = await startFakeSlack({ botToken: TOKEN, appToken: APP_TOKEN });
  core = createCoreDouble();
  adapter = createSlackAdapter(
    loadConfig({
      SLACK_BOT_TOKEN: TOKEN,
      SLACK_APP_TOKEN: APP_TOKEN,
      SLACK_API_URL: fake.apiUrl,
      SLACK_FILE_HOSTS: fake.origin,
    }),
    { logger: silentLogger, paceMs: 0 },
  );
  await adapter.start(core);
});

afterAll(async () => {
  await adapter?.stop();
  await fake?.close();
});

/** A mention with a PNG attached, delivered over the Socket Mode connection; resolves with the ack. */
const sendMention = (ts: string) =>
  fake.socketSend(
    'events_api',
    eventEnvelope({
      type: 'app_mention',
      channel: 'C1',
      user: 'U1',
      text: `<@${fake.botUserId}> read`,
      ts,
      files: [fake.addFile(Buffer.from('89504e470d0a1a0a', 'hex'))],
    }),
  );

describe('slack adapter over Socket Mode', () => {
  it('connects with the app token through SLACK_API_URL and acks an event only after handle() resolved', async () => {
    expect(fake.socketConnected()).toBe(true);
    expect(fake.callsTo('apps.connections.open')[0]!.authorization).toBe(`Bearer ${APP_TOKEN}`);
    core.handleDelayMs = 120;
    const ack = await sendMention('1700000000.000001');
    expect(core.handled).toHaveLength(1);
    expect(core.handled[0]!.resolvedAt).toBeLessThanOrEqual(ack.at);
    expect(core.handled[0]!.request.messageKey).toBe('slack:C1:1700000000.000001');
  });

  it('answers a slash command with the help text in the ack payload', async () => {
    const ack = await fake.socketSend('slash_commands', {
      command: '/quickread',
      text: '',
      user_id: 'U1',
      channel_id: 'C1',
      team_id: 'T0FAKE',
      response_url: 'https://hooks.slack.invalid/x',
      trigger_id: 't',
    });
    expect(ack.payload).toMatchObject({ response_type: 'ephemeral' });
    expect(JSON.stringify(ack.payload)).toContain('quickread help');
  });

  it.each([
    ['Slack asks for a refresh', true],
    ['the connection drops', false],
  ])(
    'reconnects when %s, and the next event is read',
    async (_why, polite) => {
      const opened = fake.callsTo('apps.connections.open').length;
      fake.socketDisconnect(polite);
      await fake.waitFor(
        () => fake.callsTo('apps.connections.open').length > opened && fake.socketConnected(),
        20_000,
      );
      const before = core.handled.length;
      const ts = `1700000100.00000${polite ? 1 : 2}`;
      const ack = await sendMention(ts);
      expect(ack.envelope_id).toBeTruthy();
      expect(core.handled).toHaveLength(before + 1);
      expect(core.handled.at(-1)!.request.messageKey).toBe(`slack:C1:${ts}`);
    },
    30_000,
  );
});
