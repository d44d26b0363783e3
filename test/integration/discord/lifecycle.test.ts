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
  it('posts the status and the read as channel messages and never uses the expired token', async () => {
    const url = world.cdn.add('/attachments/9/10/hand.png', png, 'image/png');
    const interaction = readInteraction(world, attachment(url, 'hand.png', png.length), 'fracture?');
    world.gateway.dispatch('INTERACTION_CREATE', interaction);
    await waitFor(() => core.done.length > 0, 8000, 'the job');
    await core.done[0];
    const viaChannel = world.rest.calls.filter(
      (call) => call.path.startsWith(`/channels/${world.channelId}/messages`) && call.method !== 'GET',
    );
    expect(viaChannel[0]?.body.content).toMatch(/Queued/);
    expect(viaChannel.some((call) => JSON.stringify(call.body).includes('87%'))).toBe(true);
    for (const call of viaChannel) expect(call.body.allowed_mentions.parse).toEqual([]);
    const tokenCalls = world.rest.calls.filter((call) => call.path.includes(interaction.token));
    // Only the deferral (inside the 3 s) used the token.
    expect(tokenCalls.map((call) => call.method)).toEqual(['POST']);
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
