import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EntraFake } from '../../fakes/entra.ts';
import type { ConnectorFake, ConnectorRequest, FileHostFake } from '../../fakes/teams-connector.ts';
import { APP_ID, type BotProcess, type Channel, createChannel, TENANT } from './channel.ts';
import {
  cardText,
  hasPreview,
  inConversation,
  inlineImage as inlineImageOn,
  isRead,
  startTeamsWorld,
  type TeamsWorld,
  waitFor,
} from './world.ts';

/**
 * Microsoft Teams end to end, offline: loopback Entra (OpenID configuration, JWKS, client credentials)
 * and Bot Connector over https with a self-signed certificate the bot process trusts through
 * NODE_EXTRA_CA_CERTS; the channel signs each activity with Entra's key. The bot process runs the real
 * adapter, Agents SDK, core, store and image pipeline.
 */

let world: TeamsWorld;
let entra: EntraFake;
let connector: ConnectorFake;
let elsewhere: FileHostFake;
let bot: BotProcess;
let channel: Channel;
let png: Buffer;

const inlineImage = (bytes: Buffer) => inlineImageOn(connector, bytes);
/** A request carrying the read card, whatever the connector answered. */
const isReadBody = (request: ConnectorRequest) =>
  request.method === 'PUT' && cardText(request).includes('Impression');

/** Drive one read through: mention with an inline image; resolve with the thread's requests once previewed. */
async function readIn(conversationBase: string, id: string) {
  const sent = await channel.send(
    channel.message({
      id,
      channel: conversationBase,
      mention: true,
      text: 'any nodule?',
      attachments: [inlineImage(png)],
    }),
  );
  expect(sent.status).toBe(200);
  const conversation = `${conversationBase};messageid=${id}`;
  const previewed = await waitFor(
    () =>
      connector.requests.find((r) => inConversation(conversation)(r) && r.status === 200 && hasPreview(r)),
    'the read card with its preview',
  );
  return { conversation, previewed };
}

beforeAll(async () => {
  world = await startTeamsWorld();
  ({ entra, connector, elsewhere, png } = world);
  bot = await world.startBot();
  channel = createChannel({ botUrl: bot.url, entra, serviceUrl: connector.url });
}, 90_000);

afterAll(async () => {
  await bot?.stop();
  await world?.close();
});

describe('Teams: inbound tokens are verified by the SDK', () => {
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const now = () => Math.floor(Date.now() / 1000);
  const cases: Array<[string, () => string | null]> = [
    ['no token', () => null],
    [
      'a forged signature',
      () =>
        entra.sign(
          { aud: APP_ID, iss: `${entra.url}/${TENANT}/v2.0`, tid: TENANT, exp: now() + 600 },
          { key: other },
        ),
    ],
    ['an expired token', () => channel.token({ iat: now() - 7200, nbf: now() - 7200, exp: now() - 3600 })],
    ['the wrong audience', () => channel.token({ aud: 'some-other-bot' })],
    [
      'another tenant',
      () =>
        channel.token({
          iss: `${entra.url}/0badc0de-0000-4000-8000-000000000000/v2.0`,
          tid: '0badc0de-0000-4000-8000-000000000000',
        }),
    ],
  ];
  it.each(cases)('answers 401 to %s and does nothing', async (_name, token) => {
    const id = `forged-${Math.random().toString(36).slice(2, 8)}`;
    const activity = channel.message({
      id,
      channel: '19:auth@thread.tacv2',
      mention: true,
      attachments: [inlineImage(png)],
    });
    const before = connector.requests.length;
    const answer = await channel.send(activity, token());
    expect(answer.status).toBe(401);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(connector.requests.slice(before)).toEqual([]);
  });
});

describe('Teams: a read in the thread', () => {
  it('answers a mention with an inline image with one read in the thread, fetched with the token from the serviceUrl', async () => {
    const { conversation, previewed } = await readIn('19:general@thread.tacv2', '1700000000001');
    const thread = connector.requests.filter(inConversation(conversation));
    const posts = thread.filter((r) => r.method === 'POST' && r.status === 201);
    // One message in the thread: the status, replied to the root and then edited in place into the read.
    expect(posts).toHaveLength(1);
    expect(posts[0]!.path).toBe(`/v3/conversations/${conversation}/activities/1700000000001`);
    expect(posts[0]!.body?.replyToId).toBe('1700000000001');
    const read = thread.find(isRead)!;
    expect(read.method).toBe('PUT');
    expect(read.activityId).toBe(posts[0]!.createdId);
    expect(previewed.activityId).toBe(posts[0]!.createdId);
    const card = (
      read.body!.attachments as Array<{ contentType: string; content: Record<string, unknown> }>
    )[0]!;
    expect(card.contentType).toBe('application/vnd.microsoft.card.adaptive');
    expect(card.content.version).toBe('1.5');
    const text = JSON.stringify(card.content);
    for (const part of [
      'Routine',
      'Impression',
      'nodule',
      '83%',
      'model probability · not calibrated',
      'CT follow-up',
      'test-model',
      'not a diagnosis',
    ])
      expect(text).toContain(part);
    expect(
      (card.content.actions as Array<{ type: string; verb: string }>).map((a) => [a.type, a.verb]),
    ).toEqual([
      ['Action.Execute', 'ack'],
      ['Action.Execute', 'up'],
      ['Action.Execute', 'down'],
    ]);
    expect(cardText(previewed)).toContain('not for diagnostic use');
    expect(Buffer.byteLength(JSON.stringify(previewed.body))).toBeLessThanOrEqual(28 * 1024);
    const download = connector.requests.find(
      (r) => r.method === 'GET' && r.path.startsWith('/v3/attachments/'),
    );
    expect(download?.authorization).toMatch(/^Bearer ey/);
    expect(entra.issued).toContain(download!.authorization!.slice('Bearer '.length));
    expect(entra.tokenRequests.every((r) => r.tenant === TENANT && r.clientId === APP_ID)).toBe(true);
  });

  it('takes a redelivered activity once (persisted before the 200, deduplicated by activity id)', async () => {
    const { conversation } = await readIn('19:redeliver@thread.tacv2', '1700000000101');
    const activity = channel.message({
      id: '1700000000101',
      channel: '19:redeliver@thread.tacv2',
      mention: true,
      attachments: [inlineImage(png)],
    });
    expect((await channel.send(activity)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(
      connector.requests.filter((r) => inConversation(conversation)(r) && r.method === 'POST'),
    ).toHaveLength(1);
  });

  it('answers a plain reply in that thread as a follow-up, in the same thread', async () => {
    const { conversation } = await readIn('19:followup@thread.tacv2', '1700000000201');
    const reply = channel.message({
      id: '1700000000202',
      channel: '19:followup@thread.tacv2',
      root: '1700000000201',
      text: 'how large is it?',
    });
    expect((await channel.send(reply)).status).toBe(200);
    const followUp = await waitFor(
      () =>
        connector.requests.find(
          (r) => inConversation(conversation)(r) && isRead(r) && cardText(r).includes('· follow-up'),
        ),
      'the follow-up read',
    );
    expect(followUp.conversationId).toBe(conversation);
    const posts = connector.requests.filter((r) => inConversation(conversation)(r) && r.method === 'POST');
    // Teams channel threads are flat: every reply, the follow-up's included, hangs off the root message.
    expect(posts.map((p) => p.body?.replyToId)).toEqual(['1700000000201', '1700000000201']);
  });

  it('ignores a plain reply in a thread it is not reading (delivered under RSC), storing nothing', async () => {
    const conversation = '19:chatter@thread.tacv2;messageid=1700000000251';
    const chatter = channel.message({
      id: '1700000000252',
      channel: '19:chatter@thread.tacv2',
      root: '1700000000251',
      text: 'lunch?',
    });
    expect((await channel.send(chatter)).status).toBe(200);
    // The same thread then starts a read by mention: it is answered, the chatter never was.
    await readIn('19:chatter@thread.tacv2', '1700000000251');
    const posts = connector.requests.filter((r) => inConversation(conversation)(r) && r.method === 'POST');
    expect(posts.map((p) => p.body?.replyToId)).toEqual(['1700000000251']);
  });

  it('acknowledges by the Action.Execute invoke, answered in the same HTTP response and edited for everyone', async () => {
    const { conversation, previewed } = await readIn('19:ack@thread.tacv2', '1700000000301');
    const card = (
      previewed.body!.attachments as Array<{ content: { actions: Array<{ data: { jobId: string } }> } }>
    )[0]!;
    const jobId = card.content.actions[0]!.data.jobId;
    const invoke = {
      ...channel.message({ id: 'invoke-1', channel: '19:ack@thread.tacv2', root: '1700000000301' }),
      type: 'invoke',
      name: 'adaptiveCard/action',
      replyToId: previewed.activityId,
      value: { action: { type: 'Action.Execute', verb: 'ack', data: { jobId } }, trigger: 'manual' },
    };
    const answer = await channel.send(invoke);
    expect(answer.status).toBe(200);
    const body = answer.body as { statusCode: number; type: string; value: unknown };
    expect(body.statusCode).toBe(200);
    expect(body.type).toBe('application/vnd.microsoft.card.adaptive');
    expect(JSON.stringify(body.value)).toContain('Acknowledged by Dr Test');
    expect(JSON.stringify(body.value)).not.toContain('"verb":"ack"');
    const edited = connector.requests.filter(
      (r) =>
        inConversation(conversation)(r) &&
        r.method === 'PUT' &&
        cardText(r).includes('Acknowledged by Dr Test'),
    );
    expect(edited.map((r) => r.activityId)).toEqual([previewed.activityId]);
    // The preview shown on the card stays on it when the card is edited for the acknowledgement.
    expect(edited.every(hasPreview)).toBe(true);
    expect(JSON.stringify(body.value)).toContain('data:image/jpeg;base64');
    const again = await channel.send({ ...invoke, id: 'invoke-2' });
    const vote = await channel.send({
      ...invoke,
      id: 'invoke-vote',
      value: { action: { type: 'Action.Execute', verb: 'down', data: { jobId } }, trigger: 'manual' },
    });
    expect(vote.body).toEqual({
      statusCode: 200,
      type: 'application/vnd.microsoft.activity.message',
      value: 'Thanks — your 👎 was recorded for this read.',
    });
    // A second press (another member, or a stale view) gets the card as it stands, acknowledged once.
    expect(JSON.stringify((again.body as { value: unknown }).value)).toContain('Acknowledged by Dr Test');
  });
});

describe('Teams: help', () => {
  it('answers the manifest help command in the thread with the help card', async () => {
    const conversation = '19:help@thread.tacv2;messageid=1700000000901';
    const sent = await channel.send(
      channel.message({ id: '1700000000901', channel: '19:help@thread.tacv2', mention: true, text: 'help' }),
    );
    expect(sent.status).toBe(200);
    const help = await waitFor(
      () => connector.requests.find((r) => inConversation(conversation)(r) && r.method === 'POST'),
      'the help card',
    );
    expect(cardText(help)).toContain('a fast second look');
    expect(help.body?.replyToId).toBe('1700000000901');
  });
});

describe('Teams: connector faults', () => {
  it('retries a 429 (Retry-After) and still shows one message', async () => {
    const conversation = '19:busy@thread.tacv2;messageid=1700000000401';
    connector.fail((r) => r.conversationId === conversation && r.method === 'POST', 429, 1, {
      'retry-after': '0',
    });
    await readIn('19:busy@thread.tacv2', '1700000000401');
    const posts = connector.requests.filter((r) => inConversation(conversation)(r) && r.method === 'POST');
    expect(posts.map((p) => p.status)).toEqual([429, 201]);
  });

  it('retries a 502 and a 412 on the edit into the read', async () => {
    const conversation = '19:flaky@thread.tacv2;messageid=1700000000451';
    connector.fail((r) => r.conversationId === conversation && isReadBody(r), 502, 1);
    connector.fail((r) => r.conversationId === conversation && isReadBody(r), 412, 1);
    await readIn('19:flaky@thread.tacv2', '1700000000451');
    const edits = connector.requests.filter((r) => inConversation(conversation)(r) && isReadBody(r));
    expect(edits.map((r) => r.status).slice(0, 3)).toEqual([502, 412, 200]);
  });

  it('keeps the card without its preview on a 413 and says so in the thread', async () => {
    const conversation = '19:big@thread.tacv2;messageid=1700000000501';
    connector.fail((r) => r.conversationId === conversation && r.method === 'PUT' && hasPreview(r), 413, 1);
    const sent = await channel.send(
      channel.message({
        id: '1700000000501',
        channel: '19:big@thread.tacv2',
        mention: true,
        attachments: [inlineImage(png)],
      }),
    );
    expect(sent.status).toBe(200);
    const note = await waitFor(
      () =>
        connector.requests.find(
          (r) =>
            inConversation(conversation)(r) &&
            r.method === 'POST' &&
            cardText(r).includes('Preview not shown'),
        ),
      'the preview note',
    );
    expect(note.status).toBe(201);
    const thread = connector.requests.filter(inConversation(conversation));
    expect(thread.some((r) => isRead(r) && !hasPreview(r))).toBe(true);
    expect(thread.filter((r) => hasPreview(r)).map((r) => r.status)).toEqual([413]);
  });
});

describe('Teams: the bot token goes only to the activity’s connector', () => {
  it('refuses an inline image on another origin without fetching it', async () => {
    const conversation = '19:foreign@thread.tacv2;messageid=1700000000601';
    const sent = await channel.send(
      channel.message({
        id: '1700000000601',
        channel: '19:foreign@thread.tacv2',
        mention: true,
        attachments: [
          { contentType: 'image/png', contentUrl: `${elsewhere.url}/v3/attachments/x/views/original` },
        ],
      }),
    );
    expect(sent.status).toBe(200);
    await waitFor(
      () =>
        connector.requests.find(
          (r) => inConversation(conversation)(r) && cardText(r).includes('DOWNLOAD_FORBIDDEN_HOST'),
        ),
      'the refusal',
    );
    expect(elsewhere.requests).toEqual([]);
  });

  it('refuses a web page served instead of the image, saying so in the thread', async () => {
    const conversation = '19:html@thread.tacv2;messageid=1700000000631';
    const id = connector.addAttachment(Buffer.from('<html>sign in</html>'), 'text/html; charset=utf-8');
    const sent = await channel.send(
      channel.message({
        id: '1700000000631',
        channel: '19:html@thread.tacv2',
        mention: true,
        attachments: [
          { contentType: 'image/*', contentUrl: `${connector.url}/v3/attachments/${id}/views/original` },
        ],
      }),
    );
    expect(sent.status).toBe(200);
    const refusal = await waitFor(
      () =>
        connector.requests.find((r) => inConversation(conversation)(r) && cardText(r).includes('INPUT_HTML')),
      'the refusal',
    );
    expect(cardText(refusal)).toContain('Teams returned a web page instead of the file');
  });

  it('follows a connector redirect to another origin without the token', async () => {
    const before = elsewhere.requests.length;
    const id = connector.addRedirect(`${elsewhere.url}/blob/scan.png?sig=xyz`);
    const conversation = '19:redirect@thread.tacv2;messageid=1700000000651';
    const sent = await channel.send(
      channel.message({
        id: '1700000000651',
        channel: '19:redirect@thread.tacv2',
        mention: true,
        attachments: [
          { contentType: 'image/*', contentUrl: `${connector.url}/v3/attachments/${id}/views/original` },
        ],
      }),
    );
    expect(sent.status).toBe(200);
    await waitFor(
      () => connector.requests.find((r) => inConversation(conversation)(r) && isRead(r)),
      'the read',
    );
    const hop = connector.requests.find((r) => r.path === `/v3/attachments/${id}/views/original`);
    expect(hop?.authorization).toMatch(/^Bearer /);
    expect(elsewhere.requests.slice(before)).toEqual([{ path: '/blob/scan.png?sig=xyz' }]);
  });

  it('fetches a personal-chat file from its pre-authorised downloadUrl with no token', async () => {
    const before = elsewhere.requests.length;
    const sent = await channel.send(
      channel.message({
        id: '1700000000701',
        channel: 'a:personal-chat-1',
        personal: true,
        attachments: [
          {
            contentType: 'application/vnd.microsoft.teams.file.download.info',
            name: 'scan.png',
            content: {
              downloadUrl: `${elsewhere.url}/download/scan.png?sig=abc`,
              uniqueId: 'u-1',
              fileType: 'png',
            },
          },
        ],
      }),
    );
    expect(sent.status).toBe(200);
    const read = await waitFor(
      () => connector.requests.find((r) => r.conversationId === 'a:personal-chat-1' && isRead(r)),
      'the personal-chat read',
    );
    // A personal chat has no threads: the status is a new message in the chat, edited into the read.
    const status = connector.requests.find(
      (r) => r.conversationId === 'a:personal-chat-1' && r.method === 'POST',
    );
    expect(status?.path).toBe('/v3/conversations/a:personal-chat-1/activities');
    expect(read.activityId).toBe(status?.createdId);
    const fetched = elsewhere.requests.slice(before);
    expect(fetched).toHaveLength(1);
    expect(fetched[0]!.authorization).toBeUndefined();
  });

  it('refuses a personal-chat file link on a host that is not on TEAMS_FILE_HOSTS, without fetching it', async () => {
    const sent = await channel.send(
      channel.message({
        id: '1700000000711',
        channel: 'a:personal-chat-2',
        personal: true,
        attachments: [
          {
            contentType: 'application/vnd.microsoft.teams.file.download.info',
            name: 'scan.png',
            content: {
              downloadUrl: 'https://127.0.0.3:1/intranet/scan.png',
              uniqueId: 'u-2',
              fileType: 'png',
            },
          },
        ],
      }),
    );
    expect(sent.status).toBe(200);
    await waitFor(
      () =>
        connector.requests.find(
          (r) => r.conversationId === 'a:personal-chat-2' && cardText(r).includes('DOWNLOAD_FORBIDDEN_HOST'),
        ),
      'the refusal',
    );
  });

  it('refuses an activity from another tenant (403), even with a valid token', async () => {
    const activity = channel.message({
      id: '1700000000851',
      channel: '19:tenant@thread.tacv2',
      mention: true,
    });
    const answer = await channel.send({
      ...activity,
      conversation: {
        id: '19:tenant@thread.tacv2;messageid=1700000000851',
        conversationType: 'channel',
        tenantId: 'contoso-other',
      },
      channelData: { tenant: { id: 'contoso-other' } },
    });
    expect(answer.status).toBe(403);
    expect(connector.requests.filter((r) => r.conversationId?.startsWith('19:tenant@'))).toEqual([]);
  });

  it('refuses an activity whose serviceUrl differs from the token’s serviceurl claim (401)', async () => {
    const activity = channel.message({
      id: '1700000000861',
      channel: '19:claim@thread.tacv2',
      mention: true,
    });
    const answer = await channel.send(
      activity,
      channel.token({ serviceurl: 'https://smba.trafficmanager.net/emea/' }),
    );
    expect(answer.status).toBe(401);
    expect(connector.requests.filter((r) => r.conversationId?.startsWith('19:claim@'))).toEqual([]);
  });

  it('refuses an activity whose serviceUrl is not on TEAMS_SERVICE_HOSTS (403) and sends it nothing', async () => {
    const rogue = 'https://127.0.0.2:1';
    const activity = {
      ...channel.message({ id: '1700000000801', channel: '19:rogue@thread.tacv2', mention: true }),
      serviceUrl: rogue,
    };
    const answer = await channel.send(activity, channel.token({ serviceurl: rogue }));
    expect(answer.status).toBe(403);
  });
});
