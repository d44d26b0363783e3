import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoreAction, CoreCommand } from '../../../src/core/adapter.ts';
import type { InboundRequest } from '../../../src/core/types.ts';
import { type BotProcess, type Channel, createChannel } from './channel.ts';
import { cardText, inConversation, inlineImage, startTeamsWorld, type TeamsWorld, waitFor } from './world.ts';

/**
 * The real Teams adapter (and Agents SDK) against a recording BotCore double: what the adapter hands
 * the core for each kind of activity, and that it withholds its 200 when the core could not take a
 * message, so Teams redelivers it.
 */
let world: TeamsWorld;
let bot: BotProcess;
let channel: Channel;

type Call =
  | { call: 'handle'; payload: InboundRequest }
  | { call: 'act'; payload: CoreAction }
  | { call: 'command'; payload: CoreCommand };

const calls = (): Call[] =>
  bot.lines.filter((line) => line.startsWith('CORE ')).map((line) => JSON.parse(line.slice(5)) as Call);
const handled = (eventId: string) =>
  calls().filter(
    (c): c is Extract<Call, { call: 'handle' }> => c.call === 'handle' && c.payload.eventId === eventId,
  );

beforeAll(async () => {
  world = await startTeamsWorld();
  bot = await world.startBot({ CORE: 'double' });
  channel = createChannel({ botUrl: bot.url, entra: world.entra, serviceUrl: world.connector.url });
}, 90_000);

afterAll(async () => {
  await bot?.stop();
  await world?.close();
});

describe('Teams adapter → BotCore (core double)', () => {
  it('hands a mention over as trigger mention, with the thread, the Entra user and a token-scoped attachment', async () => {
    const image = inlineImage(world.connector, world.png);
    const answer = await channel.send(
      channel.message({
        id: '1700000002001',
        channel: '19:d@thread.tacv2',
        mention: true,
        text: 'any <b>effusion</b>?',
        attachments: [image],
      }),
    );
    expect(answer.status).toBe(200);
    const { payload } = handled('1700000002001')[0]!;
    expect(payload).toMatchObject({
      platform: 'teams',
      trigger: 'mention',
      thread: { channelId: '19:d@thread.tacv2', threadId: '1700000002001' },
      userId: 'aad-user-1',
      question: 'any effusion ?',
      messageKey: 'teams:19:d@thread.tacv2:1700000002001',
    });
    expect(payload.attachments).toEqual([
      {
        platform: 'teams',
        fileId: `connector|${world.connector.url}|${new URL(image.contentUrl).pathname.split('/')[3]}`,
        url: image.contentUrl,
        name: 'image',
      },
    ]);
  });

  it('hands a plain reply in a thread over as trigger reply, and shows the core’s reply to a bare mention', async () => {
    await channel.send(
      channel.message({
        id: '1700000002011',
        channel: '19:d@thread.tacv2',
        root: '1700000002001',
        text: 'and now?',
      }),
    );
    expect(handled('1700000002011')[0]?.payload.trigger).toBe('reply');
    const bare = await channel.send(
      channel.message({ id: '1700000002021', channel: '19:e@thread.tacv2', mention: true, text: 'hello' }),
    );
    expect(bare.status).toBe(200);
    const note = await waitFor(
      () =>
        world.connector.requests.find(
          (r) => inConversation('19:e@thread.tacv2;messageid=1700000002021')(r) && r.method === 'POST',
        ),
      'the how-to note',
    );
    expect(cardText(note)).toContain('Mention me in a channel message with the image pasted in');
  });

  it('withholds the 200 when the core cannot take the message, and takes the redelivery', async () => {
    const activity = channel.message({
      id: '1700000002031',
      channel: '19:f@thread.tacv2',
      mention: true,
      text: 'fail-once',
      attachments: [inlineImage(world.connector, world.png)],
    });
    expect((await channel.send(activity)).status).toBe(500);
    expect((await channel.send(activity)).status).toBe(200);
    expect(handled('1700000002031')).toHaveLength(2);
  });

  it('turns buttons into core.act and help into core.command', async () => {
    const base = channel.message({ id: 'invoke-d1', channel: '19:d@thread.tacv2', root: '1700000002001' });
    const press = (verb: string) =>
      channel.send({
        ...base,
        id: `invoke-${verb}`,
        type: 'invoke',
        name: 'adaptiveCard/action',
        replyToId: 'act-unknown',
        value: { action: { type: 'Action.Execute', verb, data: { jobId: 'job-9' } }, trigger: 'manual' },
      });
    expect((await press('up')).body).toMatchObject({
      statusCode: 200,
      value: 'Thanks — your 👍 was recorded for this read.',
    });
    expect((await press('ack')).status).toBe(200);
    expect((await press('delete-everything')).body).toMatchObject({ statusCode: 400 });
    const acts = calls()
      .filter((c) => c.call === 'act')
      .map((c) => c.payload);
    expect(acts).toEqual([
      { kind: 'up', platform: 'teams', jobId: 'job-9', userId: 'aad-user-1' },
      { kind: 'acknowledge', platform: 'teams', jobId: 'job-9', userId: 'aad-user-1' },
    ]);
    await channel.send(
      channel.message({ id: '1700000002041', channel: 'a:dm-1', personal: true, text: 'help' }),
    );
    expect(
      calls()
        .filter((c) => c.call === 'command')
        .map((c) => c.payload),
    ).toEqual([{ kind: 'help', platform: 'teams', channelId: 'a:dm-1', userId: 'aad-user-1' }]);
  });
});
