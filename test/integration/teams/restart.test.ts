import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BotProcess, createChannel } from './channel.ts';
import {
  cardText,
  inConversation,
  inlineImage,
  isRead,
  startTeamsWorld,
  type TeamsWorld,
  waitFor,
} from './world.ts';

/**
 * A read accepted by one bot process and finished by the next (same DATA_DIR): the 200 came after the
 * job was persisted, the conversation's connector is remembered, the status message is edited in place
 * into the read, and Teams' redelivery of the original activity is recognised.
 */
let world: TeamsWorld;
let bots: BotProcess[] = [];

beforeAll(async () => {
  world = await startTeamsWorld();
}, 60_000);

afterAll(async () => {
  for (const bot of bots) await bot.stop();
  await world?.close();
});

describe('Teams across a restart', () => {
  it('finishes a read accepted before the restart in the same message, and takes the redelivery once', async () => {
    const { connector, entra, png } = world;
    const first = await world.startBot({ HOLD: '1' });
    bots.push(first);
    const conversation = '19:restart@thread.tacv2;messageid=1700000001001';
    const channelTo = (bot: BotProcess) =>
      createChannel({ botUrl: bot.url, entra, serviceUrl: connector.url });
    const activity = channelTo(first).message({
      id: '1700000001001',
      channel: '19:restart@thread.tacv2',
      mention: true,
      text: 'any fracture?',
      attachments: [inlineImage(connector, png)],
    });
    const sent = await channelTo(first).send(activity);
    expect(sent.status).toBe(200);
    await waitFor(
      () =>
        connector.requests.find((r) => inConversation(conversation)(r) && cardText(r).includes('Reading')),
      'the reading status',
    );
    await first.stop();
    bots = [];

    const second = await world.startBot();
    bots.push(second);
    const read = await waitFor(
      () => connector.requests.find((r) => inConversation(conversation)(r) && isRead(r)),
      'the read after the restart',
    );
    const posts = connector.requests.filter((r) => inConversation(conversation)(r) && r.method === 'POST');
    expect(posts).toHaveLength(1);
    expect(read.activityId).toBe(posts[0]!.createdId);

    const again = await createChannel({ botUrl: second.url, entra, serviceUrl: connector.url }).send(
      activity,
    );
    expect(again.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(
      connector.requests.filter((r) => inConversation(conversation)(r) && r.method === 'POST'),
    ).toHaveLength(1);
  });
});
