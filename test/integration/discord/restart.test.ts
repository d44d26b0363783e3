import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatAdapter } from '../../../src/core/adapter.ts';
import type { Engine } from '../../../src/core/types.ts';
import { silentLogger } from '../../../src/log.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../../fakes/openai-server.ts';
import type { TestBot } from '../../helpers/test-bot.ts';
import {
  attachment,
  type DiscordWorld,
  messageCreate,
  readInteraction,
  startDiscordWorld,
  waitFor,
} from './harness.ts';
import { startWithRealBot } from './suites.ts';

/**
 * A /read job interrupted by a restart: the new process (a fresh adapter, no interaction token, the
 * real core resuming from the same data folder) answers at the head of the job's thread and in it,
 * and the thread still takes follow-ups about the same image.
 */

let world: DiscordWorld;
let engine: FakeOpenAI;
let dataDir: string;
let first: { bot: TestBot; adapter: ChatAdapter } | undefined;
let second: { bot: TestBot; adapter: ChatAdapter } | undefined;

/** An engine that never answers: the job is still being read when the process stops. */
const stuck: Engine = {
  id: 'stuck',
  model: 'stuck',
  health: async () => ({ ok: true, model: 'stuck' }),
  infer: (_input, signal) =>
    new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
};

function run(withEngine?: Engine): Promise<{ bot: TestBot; adapter: ChatAdapter }> {
  return startWithRealBot(world, {
    engineUrl: engine.url,
    dataDir,
    logger: silentLogger,
    ...(withEngine ? { engine: withEngine } : {}),
  });
}

async function stop(running: { bot: TestBot; adapter: ChatAdapter } | undefined): Promise<void> {
  if (!running) return;
  await running.bot.close();
  await running.adapter.stop();
}

beforeAll(async () => {
  engine = await startFakeOpenAI();
  world = await startDiscordWorld();
  dataDir = await mkdtemp(join(tmpdir(), 'qr-discord-restart-'));
});

afterAll(async () => {
  await stop(second);
  await stop(first);
  await engine?.close();
  await world?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('a /read job resumed after a restart', () => {
  it('answers at the head of its thread, and the thread still takes follow-ups', async () => {
    first = await run(stuck);
    const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#335577' } })
      .png()
      .toBuffer();
    const url = world.cdn.add('/attachments/3/4/wrist.png', png, 'image/png');
    const interaction = readInteraction(world, attachment(url, 'wrist.png', png.length), 'fracture?');
    const mark = world.rest.calls.length;
    world.gateway.dispatch('INTERACTION_CREATE', interaction);
    const start = await waitFor(
      () => world.rest.calls.slice(mark).find((call) => call.route.endsWith('/threads')),
      10_000,
      'the thread on the response',
    );
    const threadId = start.path.split('/')[4]!;
    const head = () => world.rest.messages.get(threadId);
    await waitFor(() => /Reading|Queued/.test(head()?.content ?? ''), 10_000, 'the status at the head');
    await stop(first);
    first = undefined;

    const restartMark = world.rest.calls.length;
    second = await run();
    await waitFor(
      () => JSON.stringify(head()?.embeds ?? []).includes('quickread read'),
      20_000,
      'the read at the head',
    );
    const after = world.rest.calls.slice(restartMark);
    // Edited in place with the bot token (the interaction token is long gone), never re-threaded.
    expect(
      after.some(
        (call) =>
          call.method === 'PATCH' && call.path === `/channels/${world.channelId}/messages/${threadId}`,
      ),
    ).toBe(true);
    expect(after.some((call) => call.path.includes(interaction.token))).toBe(false);
    expect(after.some((call) => call.route.endsWith('/threads'))).toBe(false);
    await waitFor(
      () => world.rest.calls.some((c) => c.path === `/channels/${threadId}/messages` && c.files.length),
      10_000,
      'the preview in the thread',
    );
    const visibleReads = [...world.rest.messages.values()].filter((m) =>
      JSON.stringify(m.embeds).includes('quickread read'),
    );
    expect(visibleReads.map((m) => m.id)).toEqual([threadId]);

    const reads = () => engine.requests.filter((request) => request.kind === 'read');
    const before = reads().length;
    world.gateway.dispatch(
      'MESSAGE_CREATE',
      messageCreate(world, { content: 'displaced?', channelId: threadId, channelType: 11 }),
    );
    await waitFor(() => reads().length > before, 20_000, 'the follow-up read');
    const messages = JSON.stringify(reads().at(-1)!.body.messages);
    expect(messages).toContain('displaced?');
    expect(messages).toContain('fracture?');
    await waitFor(
      () =>
        [...world.rest.messages.values()].some(
          (m) => m.channel_id === threadId && JSON.stringify(m.embeds).includes('follow-up'),
        ),
      20_000,
      'the follow-up card in the thread',
    );
  });
});
