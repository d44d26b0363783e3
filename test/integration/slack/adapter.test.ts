import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSlackAdapter, type SlackAdapter } from '../../../adapters/slack/index.ts';
import { ACTION_IDS } from '../../../adapters/slack/render.ts';
import { loadConfig } from '../../../src/config.ts';
import { silentLogger } from '../../../src/log.ts';
import { type FakeSlack, startFakeSlack } from '../../fakes/slack-server.ts';
import { deliverSlack, eventEnvelope, interactivity } from '../../helpers/slack-sign.ts';
import { type CoreDouble, createCoreDouble } from './core-double.ts';

/** The real Bolt app in HTTP mode over loopback, a fake Slack Web API, and a BotCore double. */

const SECRET = 'test-signing-secret';
const TOKEN = 'xoxb-test-token';
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');

let fake: FakeSlack;
let adapter: SlackAdapter;
let core: CoreDouble;
let eventsUrl: string;

beforeAll(async () => {
  fake = await startFakeSlack({ botToken: TOKEN });
  const config = loadConfig({
    SLACK_BOT_TOKEN: TOKEN,
    SLACK_SIGNING_SECRET: SECRET,
    SLACK_MODE: 'http',
    SLACK_PORT: '0',
    SLACK_API_URL: fake.apiUrl,
    SLACK_FILE_HOSTS: fake.origin,
  });
  core = createCoreDouble();
  adapter = createSlackAdapter(config, {
    logger: silentLogger,
    host: '127.0.0.1',
    paceMs: 0,
    webRetry: { retries: 2, minTimeout: 10, maxTimeout: 50, randomize: false },
  });
  await adapter.start(core);
  eventsUrl = `http://127.0.0.1:${adapter.httpAddress()!.port}/slack/events`;
});

afterAll(async () => {
  await adapter?.stop();
  await fake?.close();
});

afterEach(() => {
  core.handled.length = 0;
  core.handleDelayMs = 0;
  fake.calls.length = 0;
});

let tsSeq = 0;
const nextTs = () => `1700000${String(++tsSeq).padStart(3, '0')}.000100`;

function mention(ts: string, files = [fake.addFile(PNG)]) {
  return {
    type: 'app_mention',
    channel: 'C1',
    user: 'U1',
    text: `<@${fake.botUserId}> what is this?`,
    ts,
    files,
  };
}

const send = (
  event: Record<string, unknown>,
  options: Parameters<typeof deliverSlack>[2] = {},
  eventId?: string,
) => deliverSlack(eventsUrl, { json: eventEnvelope(event, eventId) }, { signingSecret: SECRET, ...options });

describe('slack adapter: request verification', () => {
  const now = () => Math.floor(Date.now() / 1000);
  it.each([
    ['unsigned', { sign: false }],
    ['signed with the wrong secret', { signingSecret: 'not-the-secret' }],
    ['stale (−6 min)', { timestampSec: now() - 360 }],
    ['from the future (+6 min)', { timestampSec: now() + 360 }],
  ])('answers 401 to a request %s and never reaches the core', async (_label, options) => {
    const response = await send(mention(nextTs()), options as Parameters<typeof deliverSlack>[2]);
    expect(response.status).toBe(401);
    expect(core.handled).toHaveLength(0);
  });

  it('accepts a correctly signed request within the window (−4 min)', async () => {
    const response = await send(mention(nextTs()), { timestampSec: now() - 240 });
    expect(response.status).toBe(200);
    expect(core.handled).toHaveLength(1);
  });

  it('answers url_verification with the challenge', async () => {
    const response = await deliverSlack(
      eventsUrl,
      { json: { type: 'url_verification', challenge: 'abc123', token: 'x' } },
      { signingSecret: SECRET },
    );
    expect(await response.json()).toEqual({ challenge: 'abc123' });
  });
});

describe('slack adapter: triggers and acks', () => {
  it('maps a mention with a file to one request and acks only after handle() resolved', async () => {
    core.handleDelayMs = 150;
    const ts = nextTs();
    const started = Date.now();
    const response = await send(mention(ts));
    const answeredAt = Date.now();
    expect(response.status).toBe(200);
    expect(core.handled).toHaveLength(1);
    const { request, resolvedAt } = core.handled[0]!;
    expect(resolvedAt).toBeLessThanOrEqual(answeredAt);
    expect(answeredAt - started).toBeGreaterThanOrEqual(140);
    expect(request).toMatchObject({
      platform: 'slack',
      messageKey: `slack:C1:${ts}`,
      thread: { channelId: 'C1', threadId: ts },
      userId: 'U1',
      question: 'what is this?',
    });
    expect(request.attachments).toHaveLength(1);
    expect(request.attachments[0]!.url.startsWith(fake.origin)).toBe(true);
    // The adapter itself downloads nothing before the ack.
    expect(fake.fileRequests).toHaveLength(0);
  });

  it('reads a message once across app_mention + message events and Slack retries', async () => {
    const ts = nextTs();
    const file = fake.addFile(PNG);
    const asMention = mention(ts, [file]);
    const asMessage = { ...asMention, type: 'message', subtype: 'file_share', channel_type: 'channel' };
    const responses = await Promise.all([
      send(asMention, {}, 'EvMention1'),
      send(asMessage, {}, 'EvMessage1'),
      send(asMention, { retryNum: 1 }, 'EvMention1'),
    ]);
    await send(asMessage, { retryNum: 2 }, 'EvMessage1');
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(core.handled).toHaveLength(1);
  });

  it('treats a plain message in a thread the bot is reading as a follow-up, and ignores other threads', async () => {
    const root = nextTs();
    core.activeThreads.add(`C1:${root}`);
    await send({
      type: 'message',
      channel: 'C1',
      channel_type: 'channel',
      user: 'U2',
      text: 'and the left lung?',
      ts: nextTs(),
      thread_ts: root,
    });
    await send({
      type: 'message',
      channel: 'C1',
      channel_type: 'channel',
      user: 'U2',
      text: 'unrelated',
      ts: nextTs(),
      thread_ts: nextTs(),
    });
    await send({
      type: 'message',
      channel: 'C1',
      channel_type: 'channel',
      user: 'U2',
      text: 'chatter',
      ts: nextTs(),
    });
    expect(core.handled).toHaveLength(1);
    expect(core.handled[0]!.request).toMatchObject({
      question: 'and the left lung?',
      thread: { threadId: root },
      attachments: [],
    });
  });

  it('reads a file sent in a DM without a mention; ignores its own and edited messages', async () => {
    const ts = nextTs();
    await send({
      type: 'message',
      subtype: 'file_share',
      channel: 'D1',
      channel_type: 'im',
      user: 'U3',
      text: '',
      ts,
      files: [fake.addFile(PNG)],
    });
    await send({
      type: 'message',
      channel: 'D1',
      channel_type: 'im',
      user: fake.botUserId,
      bot_id: 'B0FAKE',
      text: 'my own',
      ts: nextTs(),
    });
    await send({
      type: 'message',
      subtype: 'message_changed',
      channel: 'D1',
      channel_type: 'im',
      ts: nextTs(),
    });
    expect(core.handled).toHaveLength(1);
    expect(core.handled[0]!.request.thread).toEqual({ channelId: 'D1', threadId: ts });
  });

  it('handles the "Read this scan" message shortcut for the user who invoked it', async () => {
    const ts = nextTs();
    const payload = {
      type: 'message_action',
      callback_id: 'read_scan',
      trigger_id: `trig-${ts}`,
      action_ts: ts,
      message_ts: ts,
      response_url: 'https://hooks.slack.invalid/x',
      team: { id: 'T0FAKE', domain: 'fake' },
      user: { id: 'U9', name: 'reader' },
      channel: { id: 'C2', name: 'radiology' },
      message: { type: 'message', user: 'U1', ts, text: 'CT from last night', files: [fake.addFile(PNG)] },
      token: 'x',
    };
    const response = await deliverSlack(eventsUrl, interactivity(payload), { signingSecret: SECRET });
    expect(response.status).toBe(200);
    expect(core.handled).toHaveLength(1);
    expect(core.handled[0]!.request).toMatchObject({
      userId: 'U9',
      messageKey: `slack:C2:${ts}`,
      thread: { channelId: 'C2', threadId: ts },
    });
  });

  it('answers /quickread status with the queue, ephemerally, in the ack', async () => {
    const response = await deliverSlack(
      eventsUrl,
      {
        form: {
          command: '/quickread',
          text: 'status',
          user_id: 'U1',
          channel_id: 'C1',
          team_id: 'T0FAKE',
          response_url: 'https://hooks.slack.invalid/y',
          trigger_id: 't',
        },
      },
      { signingSecret: SECRET },
    );
    const body = (await response.json()) as { response_type: string; text: string; blocks: unknown[] };
    expect(body.response_type).toBe('ephemeral');
    expect(JSON.stringify(body.blocks)).toContain('2 waiting');
  });

  it('turns a core refusal into a polite ephemeral message to the poster', async () => {
    core.nextOutcome = {
      kind: 'refused',
      code: 'NOT_ALLOWED',
      text: 'quickread is not enabled for this channel or user.',
    };
    await send(mention(nextTs()));
    await fake.waitFor(() => fake.callsTo('chat.postEphemeral').length > 0);
    const call = fake.callsTo('chat.postEphemeral')[0]!;
    expect(call.args.user).toBe('U1');
    expect(JSON.stringify(call.args.blocks)).toContain('not enabled for this channel');
  });

  it('records Acknowledge and rewrites the card to say who acknowledged', async () => {
    const payload = {
      type: 'block_actions',
      user: { id: 'U0ACK7' },
      team: { id: 'T0FAKE' },
      container: { type: 'message', channel_id: 'C1', message_ts: '1700000999.000100' },
      channel: { id: 'C1' },
      trigger_id: 'trig',
      message: {
        ts: '1700000999.000100',
        text: 'read',
        blocks: [
          { type: 'section', block_id: 'qr_impression', text: { type: 'mrkdwn', text: 'x' } },
          {
            type: 'actions',
            block_id: 'qr_actions',
            elements: [
              {
                type: 'button',
                action_id: ACTION_IDS.acknowledge,
                value: 'job-42',
                text: { type: 'plain_text', text: 'Acknowledge' },
              },
            ],
          },
        ],
      },
      actions: [
        {
          type: 'button',
          action_id: ACTION_IDS.acknowledge,
          block_id: 'qr_actions',
          value: 'job-42',
          action_ts: '1',
        },
      ],
      response_url: 'https://hooks.slack.invalid/z',
    };
    const response = await deliverSlack(eventsUrl, interactivity(payload), { signingSecret: SECRET });
    expect(response.status).toBe(200);
    expect(core.acknowledged).toEqual([{ jobId: 'job-42', userId: 'U0ACK7' }]);
    await fake.waitFor(() => fake.callsTo('chat.update').length > 0);
    expect(JSON.stringify(fake.callsTo('chat.update')[0]!.args.blocks)).toContain(
      'Acknowledged by <@U0ACK7>',
    );
  });
});

describe('slack adapter: injected clock and feedback', () => {
  it('checks the signature window against the injected clock, not the machine clock', async () => {
    const skewedCore = createCoreDouble();
    const skewMs = 10 * 60 * 1000;
    const skewed = createSlackAdapter(
      loadConfig({
        SLACK_BOT_TOKEN: TOKEN,
        SLACK_SIGNING_SECRET: SECRET,
        SLACK_MODE: 'http',
        SLACK_PORT: '0',
        SLACK_API_URL: fake.apiUrl,
        SLACK_FILE_HOSTS: fake.origin,
      }),
      { logger: silentLogger, host: '127.0.0.1', paceMs: 0, clock: () => Date.now() + skewMs },
    );
    await skewed.start(skewedCore);
    try {
      const url = `http://127.0.0.1:${skewed.httpAddress()!.port}/slack/events`;
      const nowSec = Math.floor(Date.now() / 1000);
      const atMachineTime = await deliverSlack(
        url,
        { json: eventEnvelope(mention(nextTs())) },
        { signingSecret: SECRET, timestampSec: nowSec },
      );
      const atClockTime = await deliverSlack(
        url,
        { json: eventEnvelope(mention(nextTs())) },
        { signingSecret: SECRET, timestampSec: nowSec + skewMs / 1000 },
      );
      expect(atMachineTime.status).toBe(401);
      expect(atClockTime.status).toBe(200);
      expect(skewedCore.handled).toHaveLength(1);
    } finally {
      await skewed.stop();
    }
  });

  it('records 👍/👎 feedback for the job with the voter', async () => {
    const payload = (actionId: string) => ({
      type: 'block_actions',
      user: { id: 'U0VOTER' },
      team: { id: 'T0FAKE' },
      container: { type: 'message', channel_id: 'C1', message_ts: '1700000998.000100' },
      channel: { id: 'C1' },
      trigger_id: 'trig',
      message: { ts: '1700000998.000100', thread_ts: '1700000990.000100', text: 'read', blocks: [] },
      actions: [
        { type: 'button', action_id: actionId, block_id: 'qr_actions', value: 'job-7', action_ts: '1' },
      ],
      response_url: 'https://hooks.slack.invalid/z',
    });
    await deliverSlack(eventsUrl, interactivity(payload(ACTION_IDS.up)), { signingSecret: SECRET });
    await deliverSlack(eventsUrl, interactivity(payload(ACTION_IDS.down)), { signingSecret: SECRET });
    expect(core.feedbacks).toEqual([
      { jobId: 'job-7', userId: 'U0VOTER', vote: 'up' },
      { jobId: 'job-7', userId: 'U0VOTER', vote: 'down' },
    ]);
    await fake.waitFor(
      () => fake.callsTo('chat.postEphemeral').filter((c) => c.args.user === 'U0VOTER').length === 2,
    );
  });
});

describe('slack adapter: outbound', () => {
  const thread = { channelId: 'C5', threadId: '1700000500.000100' };

  it('posts in the thread, updates in place, reacts, and uploads the preview without the token', async () => {
    const ref = await adapter.post(thread, {
      kind: 'status',
      jobId: 'j',
      state: 'queued',
      position: 3,
      etaSec: 40,
    });
    await adapter.update(ref, { kind: 'status', jobId: 'j', state: 'reading' });
    await adapter.react!(thread, thread.threadId, 'received');
    await adapter.react!(thread, thread.threadId, 'received');
    await adapter.uploadPreview!(thread, PNG, 'De-identified preview — not for diagnostic use');
    const post = fake.callsTo('chat.postMessage')[0]!;
    expect(post.args).toMatchObject({ channel: 'C5', thread_ts: thread.threadId });
    expect(post.args.text).toContain('queued #3 · about 40 s');
    expect(fake.callsTo('chat.update')[0]!.args).toMatchObject({ ts: ref.messageId, text: '🔍 reading…' });
    expect(fake.callsTo('reactions.add')[0]!.args).toMatchObject({
      name: 'eyes',
      timestamp: thread.threadId,
    });
    const complete = fake.callsTo('files.completeUploadExternal')[0]!;
    expect(complete.args).toMatchObject({ channel_id: 'C5', thread_ts: thread.threadId });
    expect(complete.args.files[0].title).toMatch(/not for diagnostic use/i);
    const upload = fake.uploads.at(-1)!;
    expect(upload.bytes.equals(PNG)).toBe(true);
    expect(upload.authorization).toBeUndefined();
  });

  it('delivers a post that Slack first answers with 429, after Retry-After', async () => {
    fake.rateLimitOnce('chat.postMessage', 1);
    const started = Date.now();
    const ref = await adapter.post(thread, { kind: 'error', code: 'X', text: 'after a rate limit' });
    const attempts = fake.callsTo('chat.postMessage');
    expect(attempts).toHaveLength(2);
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(950);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(ref.messageId).toMatch(/^\d+\.\d+$/);
  });

  it('downloads a file with the token, and maps a sign-in page to the files:read hint', async () => {
    const file = fake.addFile(PNG);
    const bytes = await adapter.download(
      { platform: 'slack', fileId: file.id, url: file.url_private_download, name: file.name },
      AbortSignal.timeout(5000),
    );
    expect(bytes.equals(PNG)).toBe(true);
    const missing = {
      platform: 'slack' as const,
      fileId: 'F404',
      url: `${fake.origin}/files-pri/T0FAKE-F404/x.png`,
      name: 'x.png',
    };
    await expect(adapter.download(missing, AbortSignal.timeout(5000))).rejects.toMatchObject({
      code: 'INPUT_HTML',
    });
  });
});

describe('slack adapter: startup', () => {
  const configFor = (apiUrl: string, token = TOKEN) =>
    loadConfig({
      SLACK_BOT_TOKEN: token,
      SLACK_SIGNING_SECRET: SECRET,
      SLACK_MODE: 'http',
      SLACK_PORT: '0',
      SLACK_API_URL: apiUrl,
      SLACK_FILE_HOSTS: fake.origin,
    });

  it('says the token was rejected when auth.test answers invalid_auth', async () => {
    const bad = createSlackAdapter(configFor(fake.apiUrl, 'xoxb-wrong'), {
      logger: silentLogger,
      host: '127.0.0.1',
      webRetry: { retries: 0 },
    });
    await expect(bad.start(createCoreDouble())).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('says Slack is unreachable when nothing answers at SLACK_API_URL', async () => {
    const unreachable = createSlackAdapter(configFor('http://127.0.0.1:9/api/'), {
      logger: silentLogger,
      host: '127.0.0.1',
      webRetry: { retries: 0 },
    });
    await expect(unreachable.start(createCoreDouble())).rejects.toMatchObject({ code: 'CHAT_API_FAILED' });
  });

  it('refuses to build without the credentials its mode needs', () => {
    expect(() =>
      createSlackAdapter(loadConfig({ SLACK_BOT_TOKEN: TOKEN }), { logger: silentLogger }),
    ).toThrow(/SLACK_APP_TOKEN/);
    expect(() =>
      createSlackAdapter(loadConfig({ SLACK_BOT_TOKEN: TOKEN, SLACK_MODE: 'http' }), {
        logger: silentLogger,
      }),
    ).toThrow(/SLACK_SIGNING_SECRET/);
  });
});
