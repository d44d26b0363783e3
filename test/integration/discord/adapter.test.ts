import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatAdapter } from '../../../src/core/adapter.ts';
import { snowflake } from '../../fakes/discord-rest.ts';
import { captureLogger } from '../../helpers/capture-log.ts';
import type { CoreDouble } from './core-double.ts';
import {
  askQuickread,
  attachment,
  buttonInteraction,
  type DiscordWorld,
  messageCreate,
  readInteraction,
  startDiscordWorld,
  waitFor,
} from './harness.ts';
import { greyPng, startWithCoreDouble } from './suites.ts';

/**
 * The real discord.js client (gateway + REST) against loopback Discord fakes, driven by a BotCore
 * double that runs the documented flow. The end-to-end test with the real core is e2e.test.ts.
 */

let world: DiscordWorld;
let adapter: ChatAdapter;
let core: CoreDouble;
const log = captureLogger('debug');
let png: Buffer;

const outgoing = () =>
  world.rest.calls.filter(
    (call) =>
      (call.method === 'POST' || call.method === 'PATCH') &&
      (/^\/channels\/\d+\/messages(\/\d+)?$/.test(call.route) || call.route.startsWith('/webhooks/')),
  );

beforeAll(async () => {
  world = await startDiscordWorld();
  png = await greyPng(64);
  ({ adapter, core } = await startWithCoreDouble(world, log.logger));
});

afterAll(async () => {
  await adapter?.stop();
  await world?.close();
});

describe('discord adapter over the gateway (loopback Discord)', () => {
  it('connects like discord.js does: GET /gateway/bot, v10 JSON without compression, the four intents, commands registered', async () => {
    expect(world.rest.calls.some((call) => call.method === 'GET' && call.path === '/gateway/bot')).toBe(true);
    expect(world.gateway.connections[0]?.get('v')).toBe('10');
    expect(world.gateway.connections[0]?.get('encoding')).toBe('json');
    expect(world.gateway.connections[0]?.has('compress')).toBe(false);
    // Guilds 1 | GuildMessages 512 | DirectMessages 4096 | MessageContent 32768
    expect(world.gateway.identifies[0]?.d.intents).toBe(1 | 512 | 4096 | 32768);
    const put = world.rest.calls.find(
      (call) => call.method === 'PUT' && call.path === `/applications/${world.appId}/commands`,
    );
    expect(put?.body.map((command: { name: string }) => command.name)).toEqual(['read', 'quickread']);
    const read = put?.body[0];
    expect(read.options[0]).toMatchObject({ type: 11, name: 'image', required: true });
    await waitFor(() => world.gateway.heartbeats > 0, 5000, 'a heartbeat');
  });

  it('mention with an image → thread on the message → status edited into the read, preview, reactions', async () => {
    const url = world.cdn.add('/attachments/1/2/chest.png', png, 'image/png');
    const message = messageCreate(world, {
      content: `<@${world.botId}> nodule? patient John Smith`,
      mention: true,
      attachments: [attachment(url, 'john-smith-chest.png', png.length)],
    });
    world.gateway.dispatch('MESSAGE_CREATE', message);
    await waitFor(() => core.done.length >= 1, 5000, 'the job');
    await core.done[0];

    const request = core.requests[0]!;
    expect(request.thread).toEqual({ channelId: world.channelId, threadId: message.id });
    expect(request.question).toBe('nodule? patient John Smith');
    const thread = world.rest.calls.find(
      (call) => call.route === `/channels/${world.channelId}/messages/${message.id}/threads`,
    );
    expect(thread?.body.name).toBe('quickread read');

    // Everything the job posted went into the thread (id = message id), none into the channel.
    const posted = outgoing().filter((call) => call.path.startsWith(`/channels/${message.id}/`));
    expect(posted.length).toBeGreaterThanOrEqual(3);
    const statusPost = posted[0]!;
    expect(statusPost.body.content).toMatch(/Queued #1/);
    const edits = posted.filter((call) => call.method === 'PATCH');
    const readEdit = edits.at(-1)!;
    expect(readEdit.body.content).toBe('');
    const embed = readEdit.body.embeds[0];
    expect(embed.color).toBe(0xf57c00);
    expect(embed.fields[0].value).toContain('87%');
    expect(embed.fields[0].value).toContain('not image-grounded');
    expect(embed.footer.text).toContain('radiologist@1');
    expect(embed.footer.text).toContain('not for diagnostic use');
    expect(readEdit.body.components[0].components.map((b: { custom_id: string }) => b.custom_id)).toEqual([
      'qr:ack:job-1',
      'qr:up:job-1',
      'qr:down:job-1',
    ]);

    const preview = posted.find((call) => call.files.length > 0);
    expect(preview?.files[0]).toMatchObject({
      field: 'files[0]',
      filename: 'quickread-preview-deidentified.png',
    });
    expect(preview?.body.allowed_mentions).toEqual({ parse: [], replied_user: false });

    const reactions = world.rest.calls.filter((call) => call.route.includes('/reactions/'));
    expect(reactions.map((call) => `${call.method} ${call.path}`)).toEqual([
      `PUT /channels/${world.channelId}/messages/${message.id}/reactions/👀/@me`,
      `PUT /channels/${world.channelId}/messages/${message.id}/reactions/✅/@me`,
      `DELETE /channels/${world.channelId}/messages/${message.id}/reactions/👀/@me`,
    ]);

    // The attachment was fetched once, without the bot token.
    expect(world.cdn.requests).toHaveLength(1);
    expect(world.cdn.requests[0]?.headers.authorization).toBeUndefined();
    expect(core.downloads[0]).toEqual({ jobId: 'job-1', bytes: png.length });
  });

  it('never lets model text mention anyone: allowed_mentions empty on every message and the text neutralised', () => {
    const sent = outgoing();
    expect(sent.length).toBeGreaterThan(0);
    for (const call of sent) {
      expect(call.body.allowed_mentions?.parse, `${call.method} ${call.route}`).toEqual([]);
      const text = JSON.stringify(call.body);
      expect(text).not.toMatch(/@everyone|@here/);
      expect(text).not.toContain('<@123456789012345678>');
      expect(text).not.toContain('https://evil.example');
    }
    const read = sent.find((call) => JSON.stringify(call.body).includes('Pulmonary nodule'));
    expect(JSON.stringify(read?.body)).toContain('@\u200beveryone');
  });

  it('a plain message in the thread is a follow-up in the same conversation', async () => {
    const first = core.requests[0]!;
    const message = messageCreate(world, {
      content: 'is it calcified?',
      channelId: first.thread.threadId,
      channelType: 11,
    });
    world.gateway.dispatch('MESSAGE_CREATE', message);
    await waitFor(() => core.done.length >= 2, 5000, 'the follow-up');
    await core.done[1];
    const request = core.requests.at(-1)!;
    expect(request.thread).toEqual(first.thread);
    expect(request.question).toBe('is it calcified?');
    expect(request.attachments).toEqual([]);
    // Its reactions go on the message inside the thread channel.
    expect(
      world.rest.calls.some(
        (call) => call.path === `/channels/${first.thread.threadId}/messages/${message.id}/reactions/👀/@me`,
      ),
    ).toBe(true);
  });

  it('an event replayed after a RESUME reaches the core again and produces no second read', async () => {
    const url = world.cdn.add('/attachments/1/3/ct.png', png, 'image/png');
    const message = messageCreate(world, {
      content: `<@${world.botId}> again`,
      mention: true,
      attachments: [attachment(url, 'ct.png', png.length)],
    });
    const before = core.requests.length;
    const seq = world.gateway.dispatch('MESSAGE_CREATE', message);
    await waitFor(() => core.requests.length > before, 5000, 'the first delivery');
    const resumed = world.gateway.resumed();
    await world.gateway.disconnect({ replayFrom: seq - 1 });
    await resumed;
    expect(world.gateway.resumes.at(-1)?.d.session_id).toBeTruthy();
    await waitFor(
      () => log.lines().some((line) => line.includes(message.id) && line.includes('duplicate')),
      5000,
      'the replay',
    );
    expect(core.requests.filter((request) => request.eventId === message.id)).toHaveLength(1);
    const threads = world.rest.calls.filter((call) => call.route.endsWith(`/messages/${message.id}/threads`));
    expect(threads).toHaveLength(1);
    await Promise.all(core.done);
  });

  it('refuses an attachment on another origin without fetching it', async () => {
    const url = world.foreign.add('/evil.png', png, 'image/png');
    const message = messageCreate(world, {
      content: `<@${world.botId}> read this`,
      mention: true,
      attachments: [attachment(url, 'evil.png', png.length)],
    });
    const before = core.done.length;
    world.gateway.dispatch('MESSAGE_CREATE', message);
    await waitFor(() => core.done.length > before, 5000, 'the job');
    await core.done.at(-1);
    expect(core.downloads.at(-1)?.error).toBe('DOWNLOAD_FORBIDDEN_HOST');
    expect(world.foreign.requests).toHaveLength(0);
    const error = world.rest.calls
      .filter((call) => call.path.startsWith(`/channels/${message.id}/messages`))
      .at(-1);
    expect(error?.body.embeds[0].title).toBe('⚠️ Not read');
    expect(error?.body.embeds[0].footer.text).toContain('DOWNLOAD_FORBIDDEN_HOST');
  });

  it('/read defers at once, then edits the deferred response with the read (interaction webhooks, no bot token)', async () => {
    const url = world.cdn.add('/attachments/9/9/knee.png', png, 'image/png');
    const interaction = readInteraction(world, attachment(url, 'knee.png', png.length), 'effusion?');
    const before = core.done.length;
    world.gateway.dispatch('INTERACTION_CREATE', interaction);
    await waitFor(() => core.done.length > before, 5000, 'the job');
    await core.done.at(-1);
    const calls = world.rest.calls.filter((call) => call.path.includes(interaction.token));
    expect(calls[0]).toMatchObject({
      method: 'POST',
      route: `/interactions/${interaction.id}/{token}/callback`,
    });
    expect(calls[0]?.body).toEqual({ type: 5 });
    const originalEdits = calls.filter((call) => call.method === 'PATCH');
    expect(originalEdits[0]?.path).toMatch(/messages\/@original$/);
    expect(originalEdits[0]?.body.content).toMatch(/Queued/);
    expect(originalEdits.at(-1)?.body.embeds[0].fields[0].value).toContain('87%');
    for (const call of calls) expect(call.headers.authorization).toBeUndefined();
    const request = core.requests.at(-1)!;
    // In a guild text channel the conversation is the thread started on the response message.
    const original = calls.find((call) => call.method === 'GET' && call.path.endsWith('/messages/@original'));
    expect(original).toBeDefined();
    expect(request.thread.channelId).toBe(world.channelId);
    expect(world.rest.messages.get(request.thread.threadId)?.channel_id).toBe(world.channelId);
    expect(request.question).toBe('effusion?');
    expect(request.platformData?.interactionToken).toBe(interaction.token);
  });

  it('Acknowledge defers the update and the card is re-rendered in place; 👍 is recorded and answered privately', async () => {
    const readMessage = [...world.rest.messages.values()].find((message) =>
      JSON.stringify(message.components).includes('qr:ack:job-1'),
    )!;
    const ack = buttonInteraction(world, 'qr:ack:job-1', readMessage);
    world.gateway.dispatch('INTERACTION_CREATE', ack);
    const deferred = await waitFor(
      () => world.rest.calls.find((call) => call.path === `/interactions/${ack.id}/${ack.token}/callback`),
      5000,
      'the ack callback',
    );
    expect(deferred.body).toEqual({ type: 6 });
    const edit = await waitFor(
      () =>
        world.rest.calls.find(
          (call) =>
            call.method === 'PATCH' &&
            call.path === `/channels/${readMessage.channel_id}/messages/${readMessage.id}` &&
            JSON.stringify(call.body).includes('Acknowledged'),
        ),
      5000,
      'the re-rendered card',
    );
    expect(edit.body.components[0].components[0]).toMatchObject({ label: 'Acknowledged', disabled: true });
    expect(edit.body.embeds[0].fields.at(-1)).toMatchObject({ name: 'Acknowledged' });
    expect(edit.body.allowed_mentions.parse).toEqual([]);
    expect(core.acknowledgements).toEqual([{ jobId: 'job-1', userId: world.userId }]);

    const up = buttonInteraction(world, 'qr:up:job-1', readMessage);
    world.gateway.dispatch('INTERACTION_CREATE', up);
    const thanks = await waitFor(
      () => world.rest.calls.find((call) => call.path === `/interactions/${up.id}/${up.token}/callback`),
      5000,
      'the vote callback',
    );
    expect(thanks.body).toMatchObject({ type: 4, data: { flags: 64 } });
    expect(core.votes).toEqual([{ jobId: 'job-1', vote: 'up' }]);

    const stale = buttonInteraction(world, 'qr:ack:job-999', readMessage);
    world.gateway.dispatch('INTERACTION_CREATE', stale);
    const sorry = await waitFor(
      () =>
        world.rest.calls.find(
          (call) => call.method === 'POST' && call.path === `/webhooks/${world.appId}/${stale.token}`,
        ),
      5000,
      'the private follow-up',
    );
    expect(sorry.body).toMatchObject({ flags: 64, content: 'That read can no longer be acknowledged.' });
  });

  it('a DM with an image is read in the DM (no mention needed, no thread)', async () => {
    const dmId = snowflake();
    const url = world.cdn.add('/attachments/7/1/dm.png', png, 'image/png');
    const message = messageCreate(world, {
      content: 'please look',
      channelId: dmId,
      dm: true,
      attachments: [attachment(url, 'dm.png', png.length)],
    });
    const before = core.done.length;
    world.gateway.dispatch('MESSAGE_CREATE', message);
    await waitFor(() => core.done.length > before, 5000, 'the DM job');
    await core.done.at(-1);
    expect(core.requests.at(-1)?.thread).toEqual({ channelId: dmId, threadId: dmId });
    const posted = world.rest.calls.filter((call) => call.path.startsWith(`/channels/${dmId}/messages`));
    expect(posted.some((call) => String(JSON.stringify(call.body)).includes('87%'))).toBe(true);
    expect(
      posted.some((call) => call.path === `/channels/${dmId}/messages/${message.id}/reactions/✅/@me`),
    ).toBe(true);
    expect(world.rest.calls.some((call) => call.route.endsWith(`/messages/${message.id}/threads`))).toBe(
      false,
    );
  });

  it('without permission to start threads, the read is a reply in the channel', async () => {
    world.rest.setDenyThreads(true);
    try {
      const url = world.cdn.add('/attachments/7/2/nothread.png', png, 'image/png');
      const message = messageCreate(world, {
        content: `<@${world.botId}> look`,
        mention: true,
        attachments: [attachment(url, 'nothread.png', png.length)],
      });
      const before = core.done.length;
      world.gateway.dispatch('MESSAGE_CREATE', message);
      await waitFor(() => core.done.length > before, 5000, 'the job');
      await core.done.at(-1);
      const inChannel = world.rest.calls.filter(
        (call) =>
          call.path.startsWith(`/channels/${world.channelId}/messages`) && !call.path.includes('/reactions/'),
      );
      const status = inChannel.find((call) => call.body?.message_reference?.message_id === message.id);
      expect(status?.body.content).toMatch(/Queued/);
      expect(
        inChannel.some((call) => call.method === 'PATCH' && JSON.stringify(call.body).includes('87%')),
      ).toBe(true);
      expect(world.rest.calls.some((call) => call.path.startsWith(`/channels/${message.id}/`))).toBe(false);
    } finally {
      world.rest.setDenyThreads(false);
    }
  });

  it('a 429 from Discord is waited out and retried by discord.js', async () => {
    const url = world.cdn.add('/attachments/7/3/limited.png', png, 'image/png');
    const message = messageCreate(world, {
      content: `<@${world.botId}> limited`,
      mention: true,
      attachments: [attachment(url, 'limited.png', png.length)],
    });
    world.rest.rateLimitOnce('POST', `/channels/${message.id}/messages`, 0.2);
    const before = core.done.length;
    world.gateway.dispatch('MESSAGE_CREATE', message);
    await waitFor(() => core.done.length > before, 5000, 'the job');
    await core.done.at(-1);
    const posts = world.rest.calls.filter(
      (call) => call.method === 'POST' && call.path === `/channels/${message.id}/messages`,
    );
    expect(posts.length).toBeGreaterThanOrEqual(2);
    expect(posts[0]?.body.content).toMatch(/Queued/);
    expect(posts[1]?.body.content).toMatch(/Queued/);
    expect(core.downloads.at(-1)?.error).toBeUndefined();
  });

  it('an INTERACTION_CREATE replayed after a resume is not deferred twice and the read still lands in @original', async () => {
    const url = world.cdn.add('/attachments/7/4/twice.png', png, 'image/png');
    const interaction = readInteraction(world, attachment(url, 'twice.png', png.length), 'twice?');
    const before = core.done.length;
    const seq = world.gateway.dispatch('INTERACTION_CREATE', interaction);
    await waitFor(() => core.done.length > before, 5000, 'the job');
    const resumed = world.gateway.resumed();
    await world.gateway.disconnect({ replayFrom: seq - 1 });
    await resumed;
    await core.done.at(-1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const calls = world.rest.calls.filter((call) => call.path.includes(interaction.token));
    expect(calls.filter((call) => call.route.endsWith('/callback'))).toHaveLength(1);
    expect(calls.filter((call) => call.method === 'PATCH').at(-1)?.body.embeds[0].fields[0].value).toContain(
      '87%',
    );
    expect(core.requests.filter((request) => request.eventId === interaction.id)).toHaveLength(1);
  });

  it('notifyPrivately opens a DM with the user', async () => {
    await adapter.notifyPrivately?.({ channelId: world.channelId, threadId: world.channelId }, world.userId, {
      kind: 'info',
      title: 'Just you',
      lines: ['Your request is queued.'],
    });
    const open = world.rest.calls
      .filter((call) => call.method === 'POST' && call.path === '/users/@me/channels')
      .at(-1);
    expect(open?.body).toEqual({ recipient_id: world.userId });
    const dm = world.rest.calls.at(-1)!;
    expect(dm.path).toMatch(/^\/channels\/\d+\/messages$/);
    expect(dm.body.embeds[0].title).toBe('Just you');
    expect(dm.body.allowed_mentions.parse).toEqual([]);
  });

  it('a PHI refusal is rendered as a clear reply to the message', async () => {
    core.refuseNext = {
      code: 'PHI_PRESENT',
      text: 'This DICOM still carries patient identity in its header.',
    };
    const url = world.cdn.add('/attachments/5/5/ct.dcm', png, 'application/dicom');
    const message = messageCreate(world, {
      content: `<@${world.botId}>`,
      mention: true,
      attachments: [attachment(url, 'ct.dcm', png.length, 'application/dicom')],
    });
    world.gateway.dispatch('MESSAGE_CREATE', message);
    const reply = await waitFor(
      () =>
        world.rest.calls.find(
          (call) => call.method === 'POST' && call.body?.message_reference?.message_id === message.id,
        ),
      5000,
      'the refusal',
    );
    expect(reply.path).toBe(`/channels/${world.channelId}/messages`);
    expect(reply.body.embeds[0].title).toContain('patient identity');
    expect(reply.body.embeds[0].description).toContain('no business associate agreement');
    expect(reply.body.allowed_mentions.parse).toEqual([]);
    // No thread is started for a refused request.
    expect(world.rest.calls.some((call) => call.route.endsWith(`/messages/${message.id}/threads`))).toBe(
      false,
    );
  });

  it('/quickread answers privately with the help text', async () => {
    const call = await askQuickread(world);
    expect(call.body.type).toBe(4);
    expect(call.body.data.flags).toBe(64);
    expect(call.body.data.embeds[0].description).toContain('business associate agreement');
  });

  it('logs no token, question, file name or message text', () => {
    const text = log.lines().join('\n');
    expect(text.length).toBeGreaterThan(0);
    expect(text).not.toContain(world.token);
    expect(text).not.toContain('John Smith');
    expect(text).not.toContain('john-smith-chest.png');
    expect(text).not.toContain('effusion');
    expect(text).not.toMatch(/aW50ZXJhY3Rpb246/);
  });
});
