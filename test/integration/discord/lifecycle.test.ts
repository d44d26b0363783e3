import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDiscordAdapter } from '../../../adapters/discord/index.ts';
import type { ChatAdapter } from '../../../src/core/adapter.ts';
import { silentLogger } from '../../../src/log.ts';
import { type CoreDouble, createCoreDouble, sampleCard } from './core-double.ts';
import { attachment, type DiscordWorld, readInteraction, startDiscordWorld, waitFor } from './harness.ts';

/** Interaction tokens last 15 minutes; after that /read answers with ordinary channel messages. */

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
