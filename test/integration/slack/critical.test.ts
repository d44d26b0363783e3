import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createSlackAdapter, type SlackAdapter } from '../../../adapters/slack/index.ts';
import { silentLogger } from '../../../src/log.ts';
import { openStore } from '../../../src/store/index.ts';
import { type FakeOpenAI, type FakeOpenAIOptions, startFakeOpenAI } from '../../fakes/openai-server.ts';
import { type FakeSlack, type FakeSlackCall, startFakeSlack } from '../../fakes/slack-server.ts';
import { createFakeTimers } from '../../helpers/fake-timers.ts';
import { deliverSlack, eventEnvelope, interactivity } from '../../helpers/slack-sign.ts';
import { createTestBot, type TestBot } from '../../helpers/test-bot.ts';

/**
 * Critical results on Slack (issue 19), over loopback: signed events into the real Bolt app, the real
 * core and store, the fake vLLM answering "critical", the fake Slack Web API. The ten-minute waits run
 * on fake timers; a restart is a real stop and start of the bot on the same data folder.
 */

const SECRET = 'critical-signing-secret';
const TOKEN = 'xoxb-critical-token';
const TEN_MIN = 10 * 60_000;

let dir: string;
let engine: FakeOpenAI;
const engineOptions: FakeOpenAIOptions = {
  urgency: 'critical',
  impression: 'Large left tension pneumothorax.',
};
let slack: FakeSlack;
let bot: TestBot;
let adapter: SlackAdapter;
let clock: ReturnType<typeof createFakeTimers>;
let eventsUrl: string;
let scan: Buffer;

async function startBot(): Promise<void> {
  clock = createFakeTimers();
  bot = await createTestBot({
    engineUrl: engine.url,
    dataDir: join(dir, 'data'),
    timers: clock.timers,
    config: {
      SLACK_BOT_TOKEN: TOKEN,
      SLACK_SIGNING_SECRET: SECRET,
      SLACK_MODE: 'http',
      SLACK_PORT: '0',
      SLACK_API_URL: slack.apiUrl,
      SLACK_FILE_HOSTS: slack.origin,
      CRITICAL_NOTIFY: 'UONCALL',
      CRITICAL_BACKUP: 'S0BACKUP,UBACKUP',
    },
  });
  adapter = createSlackAdapter(bot.config, {
    logger: silentLogger,
    host: '127.0.0.1',
    paceMs: 0,
    webRetry: { retries: 2, minTimeout: 10, maxTimeout: 50, randomize: false },
  });
  bot.core.attach(adapter);
  await adapter.start(bot.core);
  await bot.core.start();
  eventsUrl = `http://127.0.0.1:${adapter.httpAddress()!.port}/slack/events`;
}

async function stopBot(): Promise<void> {
  await adapter?.stop();
  await bot?.close();
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qr-slack-critical-'));
  // Not uniform: the fake model calls a uniform image blank and answers "routine" for it.
  const lung = await sharp({
    create: { width: 90, height: 180, channels: 3, background: { r: 70, g: 70, b: 70 } },
  })
    .png()
    .toBuffer();
  scan = await sharp({
    create: { width: 320, height: 320, channels: 3, background: { r: 15, g: 15, b: 15 } },
  })
    .composite([{ input: lung, left: 50, top: 60 }])
    .png()
    .toBuffer();
  engine = await startFakeOpenAI(engineOptions);
  slack = await startFakeSlack({ botToken: TOKEN });
  await startBot();
}, 60_000);

afterAll(async () => {
  await stopBot();
  await slack?.close();
  await engine?.close();
  await rm(dir, { recursive: true, force: true });
});

let tsSeq = 0;
const nextTs = () => `1700200${String(++tsSeq).padStart(3, '0')}.000300`;

async function postScan(): Promise<string> {
  const ts = nextTs();
  const event = {
    type: 'app_mention',
    channel: 'CRAD',
    user: 'UDOC1',
    text: `<@${slack.botUserId}> anything urgent?`,
    ts,
    files: [slack.addFile(scan)],
  };
  const response = await deliverSlack(eventsUrl, { json: eventEnvelope(event) }, { signingSecret: SECRET });
  expect(response.status).toBe(200);
  return ts;
}

const text = (call: FakeSlackCall) => `${String(call.args.text)} ${JSON.stringify(call.args.blocks ?? '')}`;
const posts = () => slack.callsTo('chat.postMessage');
const threadPages = (ts: string, mention: string) =>
  posts().filter((c) => c.args.thread_ts === ts && text(c).includes(mention));
const directTo = (user: string, jobId: string) =>
  posts().filter((c) => c.args.channel === `D${user}` && text(c).includes(jobId));
const channelAlerts = (jobId: string) =>
  posts().filter(
    (c) => c.args.channel === 'CRAD' && c.args.thread_ts === undefined && text(c).includes(jobId),
  );

/** The job id on the read card's Acknowledge button, once the card is there. */
async function cardOf(ts: string): Promise<{ jobId: string; cardTs: string }> {
  let found: { jobId: string; cardTs: string } | undefined;
  await slack.waitFor(() => {
    const statusTs = slack.postedTs(ts)[0];
    const card = slack
      .callsTo('chat.update')
      .find((c) => c.args.ts === statusTs && JSON.stringify(c.args.blocks ?? '').includes('qr_ack'));
    const jobId =
      card && /"action_id":"qr_ack","value":"([^"]+)"/.exec(JSON.stringify(card.args.blocks))?.[1];
    if (jobId && statusTs) found = { jobId, cardTs: statusTs };
    return found !== undefined;
  }, 20_000);
  return found!;
}

async function press(actionId: string, jobId: string, user: string, channel: string, messageTs: string) {
  const response = await deliverSlack(
    eventsUrl,
    interactivity({
      type: 'block_actions',
      user: { id: user },
      team: { id: 'T0FAKE' },
      container: { type: 'message', channel_id: channel, message_ts: messageTs },
      channel: { id: channel },
      trigger_id: 'trig',
      message: { ts: messageTs, text: 'page' },
      actions: [{ type: 'button', action_id: actionId, block_id: 'qr_page_1', value: jobId, action_ts: '1' }],
      response_url: 'https://hooks.slack.invalid/z',
    }),
    { signingSecret: SECRET },
  );
  expect(response.status).toBe(200);
}

async function auditLines(): Promise<Array<Record<string, unknown>>> {
  const raw = await readFile(join(dir, 'data', 'audit.jsonl'), 'utf8');
  return raw
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('slack critical results', () => {
  it('pages the on-call in the thread and by DM; an acknowledgement by someone else stops the chain', async () => {
    const ts = await postScan();
    const { jobId, cardTs } = await cardOf(ts);
    await slack.waitFor(() => directTo('UONCALL', jobId).length === 1, 10_000);
    const page = threadPages(ts, '<@UONCALL>');
    expect(page).toHaveLength(1);
    expect(String(page[0]!.args.text)).toMatch(/^<@UONCALL> 🔴 Critical read — paging the on-call/);
    const dm = text(directTo('UONCALL', jobId)[0]!);
    expect(dm).toContain('Large left tension pneumothorax.');
    expect(dm).toContain(`https://fake.slack.test/archives/CRAD/p${cardTs.replace('.', '')}`);
    expect(dm).toContain('"action_id":"qr_not_critical"');
    expect(slack.callsTo('conversations.open').map((c) => c.args.users)).toContain('UONCALL');
    // Nobody but the configured on-call is mentioned, and the model's text mentions nobody.
    expect(text(page[0]!)).not.toContain('UBACKUP');

    await press('qr_ack', jobId, 'UCOLLEAGUE', 'DUONCALL', '1');
    await slack.waitFor(
      () =>
        slack.callsTo('chat.update').some((c) => c.args.ts === cardTs && text(c).includes('<@UCOLLEAGUE>')),
      10_000,
    );
    const edit = slack
      .callsTo('chat.update')
      .filter((c) => c.args.ts === cardTs)
      .at(-1)!;
    expect(text(edit)).toMatch(/Acknowledged by <@UCOLLEAGUE> at <!date\^\d+\^/);
    expect(text(edit)).toContain('(local time)');
    await slack.waitFor(
      () =>
        slack
          .callsTo('chat.postEphemeral')
          .some((c) => c.args.user === 'UDOC1' && text(c).includes('acknowledged')),
      10_000,
    );
    clock.advance(3 * TEN_MIN);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(threadPages(ts, '<@UBACKUP>')).toHaveLength(0);
    expect(directTo('UBACKUP', jobId)).toHaveLength(0);
    expect(channelAlerts(jobId)).toHaveLength(0);

    const audit = (await auditLines()).filter((line) => line.job === jobId);
    expect(audit.map((line) => line.event)).toEqual(['read', 'paged', 'acknowledged']);
    const paged = audit[1]!;
    expect(paged.step).toBe(1);
    expect(JSON.stringify(paged)).not.toContain('UONCALL');
    expect(audit[2]!.ackAfterSec).toEqual(expect.any(Number));
  }, 40_000);

  it('pages the backup after the timeout, says so in the thread, and stops at the acknowledgement', async () => {
    const ts = await postScan();
    const { jobId } = await cardOf(ts);
    await slack.waitFor(() => directTo('UONCALL', jobId).length === 1, 10_000);
    // The next step is armed once step 1 is recorded (after its last message and audit line).
    await slack.waitFor(() => clock.waiting().length === 1, 10_000);
    expect(clock.waiting()[0]).toBeLessThanOrEqual(TEN_MIN);
    clock.advance(TEN_MIN);
    await slack.waitFor(() => directTo('UBACKUP', jobId).length === 1, 10_000);
    const backup = threadPages(ts, '<!subteam^S0BACKUP>');
    expect(backup).toHaveLength(1);
    expect(String(backup[0]!.args.text)).toContain('<@UBACKUP>');
    expect(String(backup[0]!.args.text)).toContain('Not acknowledged in 10 min; paged the backup.');
    expect(directTo('UONCALL', jobId)).toHaveLength(1);

    await press('qr_ack', jobId, 'UBACKUP', 'DUBACKUP', '2');
    await slack.waitFor(() => clock.waiting().length === 0, 10_000);
    clock.advance(TEN_MIN);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(channelAlerts(jobId)).toHaveLength(0);
    const events = (await auditLines()).filter((line) => line.job === jobId).map((line) => line.event);
    expect(events).toEqual(['read', 'paged', 'escalated', 'acknowledged']);
  }, 40_000);

  it('resumes after a restart: no step paged twice, none skipped, the channel asked last', async () => {
    const ts = await postScan();
    const { jobId } = await cardOf(ts);
    await slack.waitFor(() => directTo('UONCALL', jobId).length === 1, 10_000);
    await slack.waitFor(() => clock.waiting().length === 1, 10_000);
    await stopBot();
    await startBot();
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Step 1 is recorded as sent: the restart does not page the on-call again, and waits its time.
    expect(directTo('UONCALL', jobId)).toHaveLength(1);
    expect(threadPages(ts, '<@UONCALL>')).toHaveLength(1);
    await slack.waitFor(() => clock.waiting().length === 1, 10_000);
    expect(clock.waiting()[0]).toBeGreaterThan(TEN_MIN - 60_000);

    // A crash in the middle of step 2: begun, its thread message claimed, nothing confirmed.
    clock.advance(TEN_MIN);
    await slack.waitFor(() => directTo('UBACKUP', jobId).length === 1, 10_000);
    await slack.waitFor(() => clock.waiting().length === 1, 10_000);
    await stopBot();
    const store = await openStore(join(dir, 'data'), { logger: silentLogger });
    const job = await store.getJob(jobId);
    const record = job!.escalation!;
    await store.updateJob(jobId, {
      escalation: {
        ...record,
        deliveries: {
          ...record.deliveries,
          '2:direct:UBACKUP': { state: 'claimed', at: new Date().toISOString() },
        },
      },
    });
    await store.close();
    await startBot();
    // The claimed DM is sent again (a missed page is worse than a repeated one); the sent thread post is not.
    await slack.waitFor(() => directTo('UBACKUP', jobId).length === 2, 10_000);
    expect(threadPages(ts, '<!subteam^S0BACKUP>')).toHaveLength(1);
    await slack.waitFor(() => clock.waiting().length === 1, 10_000);

    clock.advance(TEN_MIN);
    await slack.waitFor(() => channelAlerts(jobId).length === 1, 10_000);
    expect(String(channelAlerts(jobId)[0]!.args.text)).toContain('not been acknowledged in 20 min');
    clock.advance(TEN_MIN);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(channelAlerts(jobId)).toHaveLength(1);
  }, 60_000);

  it('records "not critical" as an acknowledgement and a disagreement', async () => {
    const ts = await postScan();
    const { jobId } = await cardOf(ts);
    await slack.waitFor(() => directTo('UONCALL', jobId).length === 1, 10_000);
    await press('qr_not_critical', jobId, 'UONCALL', 'DUONCALL', '3');
    await vi.waitFor(
      async () => expect((await bot.store.getJob(jobId))?.escalation?.acknowledged).toBeDefined(),
      { timeout: 10_000, interval: 50 },
    );
    expect(clock.waiting()).toHaveLength(0);
    const stored = await bot.store.getJob(jobId);
    expect(stored?.escalation?.acknowledged).toMatchObject({ userId: 'UONCALL', notCritical: true });
    expect(stored?.escalation?.falseAlarms).toHaveLength(1);
    const events = async () =>
      (await auditLines()).filter((line) => line.job === jobId).map((line) => line.event);
    await vi.waitFor(
      async () => expect(await events()).toEqual(['read', 'paged', 'not-critical', 'acknowledged']),
      {
        timeout: 10_000,
        interval: 50,
      },
    );
  }, 40_000);

  it('tries a step again a minute later when Slack refuses its message', async () => {
    slack.refuseOnce('chat.postMessage', 'paging the on-call', 'fatal_error');
    const ts = await postScan();
    const { jobId } = await cardOf(ts);
    await slack.waitFor(() => clock.waiting().includes(60_000), 10_000);
    // The refused attempt is the only one so far, and no DM went out before the thread page.
    expect(threadPages(ts, '<@UONCALL>')).toHaveLength(1);
    expect(directTo('UONCALL', jobId)).toHaveLength(0);
    clock.advance(60_000);
    await slack.waitFor(() => directTo('UONCALL', jobId).length === 1, 10_000);
    expect(threadPages(ts, '<@UONCALL>')).toHaveLength(2);
    await press('qr_ack', jobId, 'UONCALL', 'DUONCALL', '4');
    await slack.waitFor(() => clock.waiting().length === 0, 10_000);
  }, 40_000);

  it('pages nobody for a routine read', async () => {
    engineOptions.urgency = 'routine';
    try {
      const before = slack.callsTo('conversations.open').length;
      const ts = await postScan();
      const { jobId } = await cardOf(ts);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(slack.callsTo('conversations.open').length).toBe(before);
      expect(posts().filter((c) => c.args.thread_ts === ts && text(c).includes('<@'))).toHaveLength(0);
      expect((await bot.store.getJob(jobId))?.escalation).toBeUndefined();
      expect(clock.waiting()).toHaveLength(0);
    } finally {
      engineOptions.urgency = 'critical';
    }
  }, 40_000);
});
