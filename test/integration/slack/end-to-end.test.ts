import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSlackAdapter, type SlackAdapter } from '../../../adapters/slack/index.ts';
import { silentLogger } from '../../../src/log.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../../fakes/openai-server.ts';
import { type FakeSlack, type FakeSlackCall, startFakeSlack } from '../../fakes/slack-server.ts';
import { deliverSlack, eventEnvelope, interactivity } from '../../helpers/slack-sign.ts';
import { createTestBot, type TestBot } from '../../helpers/test-bot.ts';

/**
 * The whole Slack path over loopback: signed Events API deliveries into the real Bolt app (HTTP mode),
 * the real bot core, store, dispatcher, image pipeline and engine client, the fake vLLM server, and the
 * fake Slack Web API + file host.
 */

const SECRET = 'e2e-signing-secret';
const TOKEN = 'xoxb-e2e-token';

let dir: string;
let engine: FakeOpenAI;
let slack: FakeSlack;
let bot: TestBot;
let adapter: SlackAdapter;
let eventsUrl: string;
let scan: Buffer;
let foreign: Server;
let foreignOrigin: string;
const foreignRequests: Array<{ authorization?: string }> = [];

/** A synthetic radiograph-like PNG: dark field, two grey "lungs", a small dense "nodule". */
async function syntheticScan(): Promise<Buffer> {
  const lung = await sharp({
    create: { width: 90, height: 180, channels: 3, background: { r: 70, g: 70, b: 70 } },
  })
    .png()
    .toBuffer();
  const nodule = await sharp({
    create: { width: 14, height: 14, channels: 3, background: { r: 230, g: 230, b: 230 } },
  })
    .png()
    .toBuffer();
  return sharp({ create: { width: 320, height: 320, channels: 3, background: { r: 15, g: 15, b: 15 } } })
    .composite([
      { input: lung, left: 50, top: 60 },
      { input: lung, left: 180, top: 60 },
      { input: nodule, left: 90, top: 100 },
    ])
    .png()
    .toBuffer();
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qr-slack-e2e-'));
  scan = await syntheticScan();
  engine = await startFakeOpenAI();
  slack = await startFakeSlack({ botToken: TOKEN });
  foreign = createServer((req, res) => {
    foreignRequests.push({ authorization: req.headers.authorization });
    res.writeHead(200, { 'content-type': 'image/png' });
    res.end(scan);
  });
  await new Promise<void>((r) => foreign.listen(0, '127.0.0.1', r));
  foreignOrigin = `http://127.0.0.1:${(foreign.address() as AddressInfo).port}`;
  bot = await createTestBot({
    engineUrl: engine.url,
    dataDir: join(dir, 'data'),
    config: {
      BURNED_IN_TEXT: 'flag',
      SLACK_BOT_TOKEN: TOKEN,
      SLACK_SIGNING_SECRET: SECRET,
      SLACK_MODE: 'http',
      SLACK_PORT: '0',
      SLACK_API_URL: slack.apiUrl,
      SLACK_FILE_HOSTS: slack.origin,
    },
  });
  adapter = createSlackAdapter(bot.config, {
    logger: silentLogger,
    host: '127.0.0.1',
    paceMs: 0,
    webRetry: { retries: 3, minTimeout: 10, maxTimeout: 50, randomize: false },
  });
  bot.core.attach(adapter);
  await adapter.start(bot.core);
  await bot.core.start();
  eventsUrl = `http://127.0.0.1:${adapter.httpAddress()!.port}/slack/events`;
}, 60_000);

afterAll(async () => {
  await adapter?.stop();
  await bot?.close();
  await slack?.close();
  await engine?.close();
  foreign?.closeAllConnections();
  await new Promise((r) => foreign?.close(r));
  await rm(dir, { recursive: true, force: true });
});

let tsSeq = 0;
const nextTs = () => `1700100${String(++tsSeq).padStart(3, '0')}.000200`;
const send = (event: Record<string, unknown>, options: { retryNum?: number; eventId?: string } = {}) =>
  deliverSlack(
    eventsUrl,
    { json: eventEnvelope(event, options.eventId) },
    { signingSecret: SECRET, retryNum: options.retryNum },
  );

const inThread = (ts: string) => (call: FakeSlackCall) => call.args.thread_ts === ts;
const reactionsOn = (ts: string) =>
  slack
    .callsTo('reactions.add')
    .filter((c) => c.args.timestamp === ts)
    .map((c) => c.args.name);
/** The read card: a chat.update (status → read) or post in that thread whose blocks show the disclaimer. */
function cardsIn(ts: string): FakeSlackCall[] {
  const statusTs = new Set(slack.postedTs(ts));
  return [
    ...slack.callsTo('chat.postMessage').filter(inThread(ts)),
    ...slack.callsTo('chat.update').filter((c) => statusTs.has(c.args.ts)),
  ].filter(
    (c) =>
      JSON.stringify(c.args.blocks ?? '').includes('not for diagnostic use') &&
      JSON.stringify(c.args.blocks).includes('Impression'),
  );
}
const readsFor = () => engine.requests.filter((r) => r.kind === 'read');

function mention(ts: string, files: unknown[], text = 'any nodule?') {
  return {
    type: 'app_mention',
    channel: 'CRAD',
    user: 'UDOC1',
    text: `<@${slack.botUserId}> ${text}`,
    ts,
    files,
  };
}

describe('slack end to end', () => {
  let firstTs: string;

  it('answers a mention with a file with one threaded read: finding, confidence, disclaimer, preview, ✅', async () => {
    firstTs = nextTs();
    const response = await send(mention(firstTs, [slack.addFile(scan, { name: 'patient-doe.png' })]));
    expect(response.status).toBe(200);
    await slack.waitFor(() => reactionsOn(firstTs).includes('white_check_mark'), 20_000);

    expect(reactionsOn(firstTs)).toEqual(['eyes', 'white_check_mark']);
    const status = slack.callsTo('chat.postMessage').filter(inThread(firstTs));
    expect(status[0]!.args.text).toMatch(/Queued #\d+|Reading|Preparing|Received/);
    const cards = cardsIn(firstTs);
    expect(cards).toHaveLength(1);
    // The status message was edited in place into the card, not followed by a second post.
    expect(cards[0]!.method).toBe('chat.update');
    const card = JSON.stringify(cards.at(-1)!.args.blocks);
    expect(card).toContain('Pulmonary nodule');
    // Issue 18: band, % and, once per card, the source of the numbers and the window the model saw.
    expect(card).toMatch(/confidence (low|moderate|high) \(\d{1,3}%\)/);
    expect(card).toContain('model probability · not calibrated');
    expect(card).toContain('solid, smooth margins');
    expect(card).toContain('window: ');
    expect(card).toContain('not for diagnostic use');
    const upload = slack.callsTo('files.completeUploadExternal').filter(inThread(firstTs));
    expect(upload).toHaveLength(1);
    expect(upload[0]!.args.channel_id).toBe('CRAD');
    expect(JSON.stringify(upload[0]!.args)).toMatch(/not for diagnostic use/i);
    expect(readsFor()).toHaveLength(1);
    // The file was fetched once, with the bot token, from the allowed host.
    const fetched = slack.fileRequests.filter((r) => r.path.includes('patient-doe'));
    expect(fetched.length).toBeGreaterThanOrEqual(1);
    expect(fetched.every((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);
    // The file name (possible PHI) never reaches a message.
    expect(JSON.stringify(slack.calls.filter((c) => c.method.startsWith('chat.')))).not.toContain(
      'patient-doe',
    );
  });

  it('records Acknowledge and edits the card in place to show who and when', async () => {
    const cardTs = slack.postedTs(firstTs)[0]!;
    const card = cardsIn(firstTs)[0]!;
    const button = JSON.stringify(card.args.blocks).match(/"action_id":"qr_ack","value":"([^"]+)"/);
    expect(button).not.toBeNull();
    const before = slack.callsTo('chat.update').length;
    const response = await deliverSlack(
      eventsUrl,
      interactivity({
        type: 'block_actions',
        user: { id: 'UDOC9' },
        team: { id: 'T0FAKE' },
        container: { type: 'message', channel_id: 'CRAD', message_ts: cardTs },
        channel: { id: 'CRAD' },
        trigger_id: 'trig',
        message: { ts: cardTs, thread_ts: firstTs, text: 'read', blocks: card.args.blocks },
        actions: [
          { type: 'button', action_id: 'qr_ack', block_id: 'qr_actions', value: button![1], action_ts: '1' },
        ],
        response_url: 'https://hooks.slack.invalid/z',
      }),
      { signingSecret: SECRET },
    );
    expect(response.status).toBe(200);
    await slack.waitFor(() => slack.callsTo('chat.update').length > before, 10_000);
    const edit = slack.callsTo('chat.update').at(-1)!;
    expect(edit.args.ts).toBe(cardTs);
    const blocks = JSON.stringify(edit.args.blocks);
    expect(blocks).toContain('Acknowledged by <@UDOC9>');
    expect(blocks).not.toContain('"action_id":"qr_ack"');
    expect(blocks).toContain('Pulmonary nodule');
  });

  it('reads once across duplicate app_mention + message events and Slack retries', async () => {
    const before = readsFor().length;
    const ts = nextTs();
    const file = slack.addFile(scan);
    const asMention = mention(ts, [file], 'dup?');
    const asMessage = { ...asMention, type: 'message', subtype: 'file_share', channel_type: 'channel' };
    await Promise.all([
      send(asMention, { eventId: `EvDupA${ts}` }),
      send(asMessage, { eventId: `EvDupB${ts}` }),
      send(asMention, { eventId: `EvDupA${ts}`, retryNum: 1 }),
    ]);
    await send(asMessage, { eventId: `EvDupB${ts}`, retryNum: 2 });
    await slack.waitFor(() => reactionsOn(ts).includes('white_check_mark'), 20_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(readsFor().length - before).toBe(1);
    expect(slack.callsTo('files.completeUploadExternal').filter(inThread(ts))).toHaveLength(1);
    expect(reactionsOn(ts).filter((n) => n === 'eyes')).toHaveLength(1);
  });

  it('answers a follow-up in the thread without a mention: the engine gets the earlier turns and the image', async () => {
    const before = readsFor().length;
    const replyTs = nextTs();
    await send({
      type: 'message',
      channel: 'CRAD',
      channel_type: 'channel',
      user: 'UDOC2',
      text: 'is it calcified?',
      ts: replyTs,
      thread_ts: firstTs,
    });
    await slack.waitFor(() => readsFor().length > before, 20_000);
    const request = readsFor().at(-1)!;
    expect(request.image).toBeDefined();
    const messages = request.body.messages as Array<{ role: string; content: unknown }>;
    expect(messages.some((m) => m.role === 'assistant')).toBe(true);
    const text = JSON.stringify(messages);
    expect(text).toContain('any nodule?');
    expect(text).toContain('is it calcified?');
    // No second download: the stored prepared image is reused.
    await slack.waitFor(() => reactionsOn(replyTs).includes('white_check_mark'), 20_000);
  });

  it('refuses a file hosted on another origin, never sending it the token, and says why', async () => {
    const ts = nextTs();
    const file = {
      ...slack.addFile(scan),
      url_private_download: `${foreignOrigin}/files-pri/x.png`,
      url_private: `${foreignOrigin}/files-pri/x.png`,
    };
    await send(mention(ts, [file]));
    await slack.waitFor(() => reactionsOn(ts).includes('warning'), 20_000);
    expect(foreignRequests.filter((r) => r.authorization !== undefined)).toHaveLength(0);
    const said = JSON.stringify(
      [
        ...slack.callsTo('chat.postMessage'),
        ...slack.callsTo('chat.update'),
        ...slack.callsTo('chat.postEphemeral'),
      ].filter((c) => c.args.thread_ts === ts || c.args.channel === 'CRAD'),
    );
    expect(said).toMatch(/outside the Slack file servers|not allowed to fetch/);
  });

  it('delivers the status message later when chat.postMessage first answers 429', async () => {
    const ts = nextTs();
    slack.rateLimitOnce('chat.postMessage', 1);
    await send(mention(ts, [slack.addFile(scan)], 'rate limited?'));
    await slack.waitFor(() => reactionsOn(ts).includes('white_check_mark'), 20_000);
    const posts = slack.callsTo('chat.postMessage').filter(inThread(ts));
    expect(posts[0]!.rateLimited).toBe(true);
    expect(posts[1]!.rateLimited).toBeUndefined();
    expect(posts[1]!.at - posts[0]!.at).toBeGreaterThanOrEqual(950);
    expect(cardsIn(ts)).toHaveLength(1);
  });
});
