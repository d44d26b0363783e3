import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeOpenAI } from '../../fakes/openai-server.ts';
import type { FakeSlack, FakeSlackCall } from '../../fakes/slack-server.ts';
import { deliverSlack, eventEnvelope } from '../../helpers/slack-sign.ts';
import { type SlackWorld, startSlackWorld } from '../../helpers/slack-world.ts';

/**
 * Study reads over the whole Slack path (issue 17): a message with two files is one read of both;
 * a new upload in a thread already read is read with the thread's earlier image as the prior; a
 * follow-up keeps the whole study. Real Bolt (HTTP mode), real core, store and pipeline, fake vLLM.
 */

const SECRET = 'study-signing-secret';
const TOKEN = 'xoxb-study-token';

let world: SlackWorld | undefined;
let engine: FakeOpenAI;
let slack: FakeSlack;
let eventsUrl: string;

const picture = (level: number, width = 256, height = 256) =>
  sharp({ create: { width, height, channels: 3, background: { r: level, g: level, b: level } } })
    .composite([
      {
        input: { create: { width: 40, height: 40, channels: 3, background: { r: 240, g: 240, b: 240 } } },
        left: 60,
        top: 60,
      },
    ])
    .png()
    .toBuffer();

beforeAll(async () => {
  world = await startSlackWorld({ tempPrefix: 'qr-slack-study-', botToken: TOKEN, signingSecret: SECRET });
  ({ engine, slack, eventsUrl } = world);
}, 60_000);

afterAll(async () => {
  await world?.close();
});

let tsSeq = 0;
const nextTs = () => `1700200${String(++tsSeq).padStart(3, '0')}.000300`;
const send = (event: Record<string, unknown>) =>
  deliverSlack(eventsUrl, { json: eventEnvelope(event) }, { signingSecret: SECRET });
const reads = () => engine.requests.filter((r) => r.kind === 'read');
const done = (ts: string) =>
  slack.callsTo('reactions.add').some((c) => c.args.timestamp === ts && c.args.name === 'white_check_mark');
// biome-ignore lint/suspicious/noExplicitAny: request bodies are arbitrary JSON
const userParts = (body: any): Array<{ type: string; text?: string }> =>
  body.messages.find((m: { content: unknown }) => Array.isArray(m.content)).content;
function cardIn(thread: string): string {
  const statusTs = new Set(slack.postedTs(thread));
  const calls: FakeSlackCall[] = [
    ...slack.callsTo('chat.postMessage').filter((c) => c.args.thread_ts === thread),
    ...slack.callsTo('chat.update').filter((c) => statusTs.has(c.args.ts)),
  ];
  return JSON.stringify(
    calls
      .map((c) => c.args.blocks ?? '')
      .filter((b) => JSON.stringify(b).includes('Impression'))
      .at(-1),
  );
}

describe('slack: several images in one read', () => {
  let thread: string;

  it('reads both files of one message together and names them on the card', async () => {
    thread = nextTs();
    const before = reads().length;
    await send({
      type: 'app_mention',
      channel: 'CRAD',
      user: 'UDOC1',
      text: `<@${slack.botUserId}> PA and lateral: any effusion?`,
      ts: thread,
      files: [
        slack.addFile(await picture(40), { name: 'Doe_PA.png' }),
        slack.addFile(await picture(90, 256, 192), { name: 'Doe_LAT.png' }),
      ],
    });
    await slack.waitFor(() => done(thread), 30_000);
    const fresh = reads().slice(before);
    expect(fresh).toHaveLength(1);
    expect(fresh[0]!.images.map((facts) => [facts.width, facts.height])).toEqual([
      [256, 256],
      [256, 192],
    ]);
    const labels = userParts(fresh[0]!.body)
      .filter((part) => part.type === 'text')
      .map((part) => part.text);
    expect(labels.slice(0, 2)).toEqual(['Image 1 of 2', 'Image 2 of 2']);
    expect(cardIn(thread)).toContain('2 images read together: Image 1 of 2; Image 2 of 2');
    // One preview: the labelled montage of both.
    expect(
      slack.callsTo('files.completeUploadExternal').filter((c) => c.args.thread_ts === thread),
    ).toHaveLength(1);
    expect(JSON.stringify(slack.calls.filter((c) => c.method.startsWith('chat.')))).not.toContain('Doe_');
  });

  it('reads a new upload in the thread beside the thread’s earlier image, labelled current and prior', async () => {
    const before = reads().length;
    const ts = nextTs();
    await send({
      type: 'app_mention',
      channel: 'CRAD',
      user: 'UDOC1',
      text: `<@${slack.botUserId}> compare with the prior`,
      ts,
      thread_ts: thread,
      files: [slack.addFile(await picture(140), { name: 'Doe_today.png' })],
    });
    await slack.waitFor(() => done(ts), 30_000);
    const request = reads().slice(before)[0]!;
    expect(request.images).toHaveLength(2);
    const texts = userParts(request.body)
      .filter((part) => part.type === 'text')
      .map((part) => part.text ?? '');
    expect(texts.slice(0, 2)).toEqual([
      'Image 1 of 2: current',
      'Image 2 of 2: prior, posted earlier in this thread',
    ]);
    expect(texts.at(-1)).toMatch(/interval change/);
  });

  it('keeps the whole study on a follow-up', async () => {
    const before = reads().length;
    const ts = nextTs();
    await send({
      type: 'message',
      channel: 'CRAD',
      channel_type: 'channel',
      user: 'UDOC2',
      text: 'is it larger?',
      ts,
      thread_ts: thread,
    });
    await slack.waitFor(() => done(ts), 30_000);
    const request = reads().slice(before)[0]!;
    expect(request.images).toHaveLength(2);
    expect(JSON.stringify(request.body.messages)).toContain('is it larger?');
  });
});
