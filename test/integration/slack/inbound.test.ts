import { describe, expect, it } from 'vitest';
import { createSlackAdapter } from '../../../adapters/slack/index.ts';
import { ACTION_IDS } from '../../../adapters/slack/render.ts';
import { silentLogger } from '../../../src/log.ts';
import { deliverSlack, eventEnvelope, interactivity } from '../../helpers/slack-sign.ts';
import { createCoreDouble } from './core-double.ts';
import { PNG, SECRET, useAdapterSuite } from './harness.ts';

/** Inbound: signature checks, triggers, dedupe, acks, shortcut, slash command, buttons. */

const s = useAdapterSuite();

describe('slack adapter: request verification', () => {
  const now = () => Math.floor(Date.now() / 1000);
  it.each([
    ['unsigned', { sign: false }],
    ['signed with the wrong secret', { signingSecret: 'not-the-secret' }],
    ['stale (−6 min)', { timestampSec: now() - 360 }],
    ['from the future (+6 min)', { timestampSec: now() + 360 }],
  ])('answers 401 to a request %s and never reaches the core', async (_label, options) => {
    const response = await s.send(s.mention(s.nextTs()), options as Parameters<typeof deliverSlack>[2]);
    expect(response.status).toBe(401);
    expect(s.core.handled).toHaveLength(0);
  });

  it('accepts a correctly signed request within the window (−4 min)', async () => {
    const response = await s.send(s.mention(s.nextTs()), { timestampSec: now() - 240 });
    expect(response.status).toBe(200);
    expect(s.core.handled).toHaveLength(1);
  });

  it('answers url_verification with the challenge', async () => {
    const response = await deliverSlack(
      s.eventsUrl,
      { json: { type: 'url_verification', challenge: 'abc123', token: 'x' } },
      { signingSecret: SECRET },
    );
    expect(await response.json()).toEqual({ challenge: 'abc123' });
  });
});

describe('slack adapter: triggers and acks', () => {
  it('maps a mention with a file to one request and acks only after handle() resolved', async () => {
    s.core.handleDelayMs = 150;
    const ts = s.nextTs();
    const started = Date.now();
    const response = await s.send(s.mention(ts));
    const answeredAt = Date.now();
    expect(response.status).toBe(200);
    expect(s.core.handled).toHaveLength(1);
    const { request, resolvedAt } = s.core.handled[0]!;
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
    expect(request.attachments[0]!.url.startsWith(s.fake.origin)).toBe(true);
    // The adapter itself downloads nothing before the ack.
    expect(s.fake.fileRequests).toHaveLength(0);
  });

  it('reads a message once across app_mention + message events and Slack retries', async () => {
    const ts = s.nextTs();
    const file = s.fake.addFile(PNG);
    const asMention = s.mention(ts, [file]);
    const asMessage = { ...asMention, type: 'message', subtype: 'file_share', channel_type: 'channel' };
    const responses = await Promise.all([
      s.send(asMention, {}, 'EvMention1'),
      s.send(asMessage, {}, 'EvMessage1'),
      s.send(asMention, { retryNum: 1 }, 'EvMention1'),
    ]);
    await s.send(asMessage, { retryNum: 2 }, 'EvMessage1');
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(s.core.handled).toHaveLength(1);
  });

  it('treats a plain message in a thread the bot is reading as a follow-up, and ignores other threads', async () => {
    const root = s.nextTs();
    s.core.activeThreads.add(`C1:${root}`);
    await s.send({
      type: 'message',
      channel: 'C1',
      channel_type: 'channel',
      user: 'U2',
      text: 'and the left lung?',
      ts: s.nextTs(),
      thread_ts: root,
    });
    await s.send({
      type: 'message',
      channel: 'C1',
      channel_type: 'channel',
      user: 'U2',
      text: 'unrelated',
      ts: s.nextTs(),
      thread_ts: s.nextTs(),
    });
    await s.send({
      type: 'message',
      channel: 'C1',
      channel_type: 'channel',
      user: 'U2',
      text: 'chatter',
      ts: s.nextTs(),
    });
    expect(s.core.handled).toHaveLength(1);
    expect(s.core.handled[0]!.request).toMatchObject({
      question: 'and the left lung?',
      thread: { threadId: root },
      attachments: [],
    });
  });

  it('reads a file sent in a DM without a mention; ignores its own and edited messages', async () => {
    const ts = s.nextTs();
    await s.send({
      type: 'message',
      subtype: 'file_share',
      channel: 'D1',
      channel_type: 'im',
      user: 'U3',
      text: '',
      ts,
      files: [s.fake.addFile(PNG)],
    });
    await s.send({
      type: 'message',
      channel: 'D1',
      channel_type: 'im',
      user: s.fake.botUserId,
      bot_id: 'B0FAKE',
      text: 'my own',
      ts: s.nextTs(),
    });
    await s.send({
      type: 'message',
      subtype: 'message_changed',
      channel: 'D1',
      channel_type: 'im',
      ts: s.nextTs(),
    });
    expect(s.core.handled).toHaveLength(1);
    expect(s.core.handled[0]!.request.thread).toEqual({ channelId: 'D1', threadId: ts });
  });

  it('does not ack a request the core could not store, so the Slack retry is read', async () => {
    const ts = s.nextTs();
    const calls = s.core.calls;
    s.core.failNext = true;
    const first = await s.send(s.mention(ts));
    expect(first.status).toBeGreaterThanOrEqual(500);
    // Slack redelivers the same event (X-Slack-Retry-Num: 1): now it is stored and acked.
    const retry = await s.send(s.mention(ts));
    expect(retry.status).toBe(200);
    expect(s.core.calls - calls).toBe(2);
    expect(s.core.handled).toHaveLength(1);
    expect(s.core.handled[0]!.request.messageKey).toBe(`slack:C1:${ts}`);
  });

  it('handles the "Read this scan" message shortcut for the user who invoked it', async () => {
    const ts = s.nextTs();
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
      message: { type: 'message', user: 'U1', ts, text: 'CT from last night', files: [s.fake.addFile(PNG)] },
      token: 'x',
    };
    const response = await deliverSlack(s.eventsUrl, interactivity(payload), { signingSecret: SECRET });
    expect(response.status).toBe(200);
    expect(s.core.handled).toHaveLength(1);
    expect(s.core.handled[0]!.request).toMatchObject({
      userId: 'U9',
      messageKey: `slack:C2:${ts}`,
      thread: { channelId: 'C2', threadId: ts },
    });
  });

  it('answers /quickread status with the queue, ephemerally, in the ack', async () => {
    const response = await deliverSlack(
      s.eventsUrl,
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

  it('hands /quickread to the core with its channel and user, and shows only what the core answers', async () => {
    const slash = async () => {
      const form = { command: '/quickread', text: 'status', user_id: 'U2', channel_id: 'C9' };
      const response = await deliverSlack(
        s.eventsUrl,
        {
          form: {
            ...form,
            team_id: 'T0FAKE',
            response_url: 'https://hooks.slack.invalid/z',
            trigger_id: 't',
          },
        },
        { signingSecret: SECRET },
      );
      return (await response.json()) as { response_type: string; text: string; blocks: unknown[] };
    };
    s.core.notAllowed = true;
    const refused = await slash();
    expect(refused.response_type).toBe('ephemeral');
    expect(refused.text).toContain('not enabled here');
    expect(JSON.stringify(refused.blocks)).not.toContain('waiting');
    expect(s.core.commands.at(-1)).toEqual({
      kind: 'status',
      platform: 'slack',
      channelId: 'C9',
      userId: 'U2',
    });
    s.core.notAllowed = false;
    expect(JSON.stringify((await slash()).blocks)).toContain('2 waiting');
  });

  it('turns a core refusal into a polite ephemeral message to the poster', async () => {
    const text = 'quickread is not enabled for this channel or user.';
    s.core.nextOutcome = {
      kind: 'refused',
      code: 'NOT_ALLOWED',
      reply: { kind: 'error', code: 'NOT_ALLOWED', text },
    };
    await s.send(s.mention(s.nextTs()));
    await s.fake.waitFor(() => s.fake.callsTo('chat.postEphemeral').length > 0);
    const call = s.fake.callsTo('chat.postEphemeral')[0]!;
    expect(call.args.user).toBe('U1');
    expect(JSON.stringify(call.args.blocks)).toContain('not enabled for this channel');
  });

  it('hands Acknowledge to the core with the presser, and tells them privately when the read is gone', async () => {
    const press = (jobId: string) => ({
      type: 'block_actions',
      user: { id: 'U0ACK7' },
      team: { id: 'T0FAKE' },
      container: { type: 'message', channel_id: 'C1', message_ts: '1700000999.000100' },
      channel: { id: 'C1' },
      trigger_id: 'trig',
      message: { ts: '1700000999.000100', thread_ts: '1700000990.000100', text: 'read', blocks: [] },
      actions: [
        {
          type: 'button',
          action_id: ACTION_IDS.acknowledge,
          block_id: 'qr_actions',
          value: jobId,
          action_ts: '1',
        },
      ],
      response_url: 'https://hooks.slack.invalid/z',
    });
    const response = await deliverSlack(s.eventsUrl, interactivity(press('job-42')), {
      signingSecret: SECRET,
    });
    expect(response.status).toBe(200);
    await s.fake.waitFor(() => s.core.acknowledged.length === 1);
    expect(s.core.acknowledged).toEqual([{ jobId: 'job-42', userId: 'U0ACK7' }]);
    expect(s.fake.callsTo('chat.postEphemeral')).toHaveLength(0);

    s.core.goneJobs.add('job-old');
    await deliverSlack(s.eventsUrl, interactivity(press('job-old')), { signingSecret: SECRET });
    await s.fake.waitFor(() => s.fake.callsTo('chat.postEphemeral').length === 1);
    const notice = s.fake.callsTo('chat.postEphemeral')[0]!;
    expect(notice.args).toMatchObject({ user: 'U0ACK7', channel: 'C1', thread_ts: '1700000990.000100' });
    expect(JSON.stringify(notice.args.blocks)).toContain('can no longer be acknowledged');
  });
});

describe('slack adapter: injected clock and feedback', () => {
  it('checks the signature window against the injected clock, not the machine clock', async () => {
    const skewedCore = createCoreDouble();
    const skewMs = 10 * 60 * 1000;
    const skewed = createSlackAdapter(s.configFor(), {
      logger: silentLogger,
      host: '127.0.0.1',
      paceMs: 0,
      clock: () => Date.now() + skewMs,
    });
    await skewed.start(skewedCore);
    try {
      const url = `http://127.0.0.1:${skewed.httpAddress()!.port}/slack/events`;
      const nowSec = Math.floor(Date.now() / 1000);
      const atMachineTime = await deliverSlack(
        url,
        { json: eventEnvelope(s.mention(s.nextTs())) },
        { signingSecret: SECRET, timestampSec: nowSec },
      );
      const atClockTime = await deliverSlack(
        url,
        { json: eventEnvelope(s.mention(s.nextTs())) },
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
    await deliverSlack(s.eventsUrl, interactivity(payload(ACTION_IDS.up)), { signingSecret: SECRET });
    await deliverSlack(s.eventsUrl, interactivity(payload(ACTION_IDS.down)), { signingSecret: SECRET });
    await s.fake.waitFor(() => s.core.feedbacks.length === 2);
    expect(s.core.feedbacks).toEqual([
      { jobId: 'job-7', userId: 'U0VOTER', vote: 'up' },
      { jobId: 'job-7', userId: 'U0VOTER', vote: 'down' },
    ]);
    await s.fake.waitFor(
      () => s.fake.callsTo('chat.postEphemeral').filter((c) => c.args.user === 'U0VOTER').length === 2,
    );
  });
});
