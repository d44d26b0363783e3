import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDiscordAdapter } from '../../../adapters/discord/index.ts';
import { loadConfig } from '../../../src/config.ts';
import type { ChatAdapter } from '../../../src/core/adapter.ts';
import { AppError } from '../../../src/errors.ts';
import { silentLogger } from '../../../src/log.ts';
import { startFakeGateway } from '../../fakes/discord-gateway.ts';
import { type CoreDouble, createCoreDouble, sampleCard } from './core-double.ts';
import { attachment, type DiscordWorld, readInteraction, startDiscordWorld, waitFor } from './harness.ts';

/**
 * Lifecycle: the interaction window (tokens last 15 minutes; after that /read answers with ordinary
 * channel messages) and start-up failures.
 */

let world: DiscordWorld;
let adapter: ChatAdapter;
let core: CoreDouble;
let clockOffset = 0;
let png: Buffer;

beforeAll(async () => {
  world = await startDiscordWorld();
  png = await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 40, g: 80, b: 120 } } })
    .png()
    .toBuffer();
  adapter = createDiscordAdapter(world.config, {
    logger: silentLogger,
    clock: () => Date.now() + clockOffset,
  });
  core = createCoreDouble(() => adapter, sampleCard, {
    // The job is slow: by the time it posts, the interaction is 16 minutes old.
    beforeRun: () => {
      clockOffset = 16 * 60_000;
    },
  });
  await adapter.start(core);
});

afterAll(async () => {
  await adapter?.stop();
  await world?.close();
});

describe('discord /read after the interaction window', () => {
  it('replaces the response with the bot token (Edit Message), keeps the rest in the thread, never uses the expired token', async () => {
    const url = world.cdn.add('/attachments/9/10/hand.png', png, 'image/png');
    const interaction = readInteraction(world, attachment(url, 'hand.png', png.length), 'fracture?');
    world.gateway.dispatch('INTERACTION_CREATE', interaction);
    await waitFor(() => core.done.length > 0, 8000, 'the job');
    await core.done[0];
    const threadId = core.requests[0]!.thread.threadId;
    expect(
      world.rest.calls.filter(
        (call) => call.path === `/channels/${world.channelId}/messages/${threadId}/threads`,
      ),
    ).toHaveLength(1);
    const headEdits = world.rest.calls.filter(
      (call) => call.method === 'PATCH' && call.path === `/channels/${world.channelId}/messages/${threadId}`,
    );
    expect(headEdits[0]?.headers.authorization).toBe(`Bot ${world.token}`);
    expect(headEdits[0]?.body.content).toMatch(/Queued/);
    expect(JSON.stringify(headEdits.at(-1)?.body)).toContain('87%');
    for (const call of headEdits) expect(call.body.allowed_mentions.parse).toEqual([]);
    // One visible answer: the head; the preview is inside the thread.
    const withRead = [...world.rest.messages.values()].filter((m) =>
      JSON.stringify(m.embeds).includes('87%'),
    );
    expect(withRead.map((m) => m.id)).toEqual([threadId]);
    const inThread = world.rest.calls.filter((call) => call.path === `/channels/${threadId}/messages`);
    expect(inThread.map((call) => call.files.length)).toEqual([1]);
    const tokenCalls = world.rest.calls.filter((call) => call.path.includes(interaction.token));
    // Only the deferral and the look-up of its message (inside the 3 s) used the token.
    expect(tokenCalls.map((call) => call.method)).toEqual(['POST', 'GET']);
  });

  it('after a restart (no memory of the interaction) a /read job answers in its thread, or in the channel when none was started', async () => {
    const threadId = core.requests[0]!.thread.threadId;
    const fresh = createDiscordAdapter(world.config, { logger: silentLogger });
    const mark = world.rest.calls.length;
    try {
      const thread = { channelId: world.channelId, threadId };
      // A resumed job edits its status (the thread's head) in place; its new messages go in the thread.
      await fresh.update({ thread, messageId: threadId }, { kind: 'status', jobId: 'j', state: 'reading' });
      expect(world.rest.calls.at(-1)).toMatchObject({
        method: 'PATCH',
        path: `/channels/${world.channelId}/messages/${threadId}`,
      });
      const ref = await fresh.post(thread, { kind: 'read', card: sampleCard('j', true) });
      expect(world.rest.messages.get(ref.messageId)?.channel_id).toBe(threadId);

      // The head is gone (deleted): the update is posted anew in the thread instead.
      world.rest.messages.delete(threadId);
      await fresh.update({ thread, messageId: threadId }, { kind: 'read', card: sampleCard('j', false) });
      expect(world.rest.calls.at(-1)).toMatchObject({
        method: 'POST',
        path: `/channels/${threadId}/messages`,
      });

      // A response no thread was started on (creation had failed): its id names no channel (10003),
      // so the job's new messages go to the parent channel, edits included.
      const response = await fetch(`${world.rest.apiUrl}/v10/channels/${world.channelId}/messages`, {
        method: 'POST',
        headers: { authorization: `Bot ${world.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ content: '' }),
      }).then((res) => res.json() as Promise<{ id: string }>);
      const orphan = { channelId: world.channelId, threadId: response.id };
      const status = await fresh.post(orphan, { kind: 'status', jobId: 'k', state: 'reading' });
      expect(world.rest.messages.get(status.messageId)?.channel_id).toBe(world.channelId);
      await fresh.update(status, { kind: 'read', card: sampleCard('k', false) });
      expect(world.rest.calls.at(-1)).toMatchObject({
        method: 'PATCH',
        path: `/channels/${world.channelId}/messages/${status.messageId}`,
      });
      const lost = world.rest.calls.filter((call) => call.path.startsWith(`/channels/${response.id}/`));
      expect(lost).toHaveLength(1); // one 404, then the conversation is known to live in the channel
      for (const call of world.rest.calls.slice(mark))
        expect(call.route.startsWith('/webhooks/')).toBe(false);
    } finally {
      await fresh.stop();
    }
  });
});

describe('discord adapter start-up failures', () => {
  it('a token Discord refuses fails start with a clear message, and nothing keeps running', async () => {
    const wrong = createDiscordAdapter(loadConfig({ ...world.env, DISCORD_TOKEN: 'not-the-token' }), {
      logger: silentLogger,
    });
    const identifies = world.gateway.identifies.length;
    const error = await wrong.start(core).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('CONFIG_INVALID');
    expect((error as AppError).userMessage).toContain('DISCORD_TOKEN');
    expect(world.gateway.identifies.length).toBe(identifies);
    await wrong.stop();
  });

  it('a gateway that closes with 4004 (authentication failed) fails start at once', async () => {
    const strict = await startFakeGateway({
      token: 'a-different-token',
      user: { id: world.botId, username: 'quickread' },
      applicationId: world.appId,
    });
    world.rest.setGatewayUrl(strict.url);
    const refused = createDiscordAdapter(world.config, { logger: silentLogger });
    try {
      const error = await refused.start(core).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect((error as AppError).code).toBe('CONFIG_INVALID');
      expect(strict.identifies).toHaveLength(1);
    } finally {
      await refused.stop();
      world.rest.setGatewayUrl(world.gateway.url);
      await strict.close();
    }
  });
});
