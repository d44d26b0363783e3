import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatAdapter } from '../../../src/core/adapter.ts';
import { silentLogger } from '../../../src/log.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../../fakes/openai-server.ts';
import { createFakeTimers } from '../../helpers/fake-timers.ts';
import type { TestBot } from '../../helpers/test-bot.ts';
import {
  attachment,
  buttonInteraction,
  type DiscordWorld,
  messageCreate,
  startDiscordWorld,
  waitFor,
} from './harness.ts';
import { startWithRealBot } from './suites.ts';

/**
 * Critical results on Discord (issue 19): the real discord.js client against loopback Discord, the real
 * core, a vLLM-shaped engine answering "critical" with text that tries to ping everyone. Fake timers
 * stand in for the ten-minute waits.
 */

const ONCALL = '311111111111111111';
const BACKUP = '322222222222222222';
const ROLE = '333333333333333333';
const TEN_MIN = 10 * 60_000;

let world: DiscordWorld;
let engine: FakeOpenAI;
let bot: TestBot;
let adapter: ChatAdapter;
let dataDir: string;
let png: Buffer;
let clock: ReturnType<typeof createFakeTimers>;
let seed = 0;

beforeAll(async () => {
  engine = await startFakeOpenAI({
    urgency: 'critical',
    impression: 'Tension pneumothorax @everyone <@&444444444444444444> see https://evil.example',
  });
  world = await startDiscordWorld({
    USER_RATE_PER_MIN: '30',
    CRITICAL_NOTIFY: `${ONCALL},role:${ROLE}`,
    CRITICAL_BACKUP: BACKUP,
  });
  dataDir = await mkdtemp(join(tmpdir(), 'qr-discord-critical-'));
  clock = createFakeTimers();
  ({ bot, adapter } = await startWithRealBot(world, {
    engineUrl: engine.url,
    dataDir,
    logger: silentLogger,
    timers: clock.timers,
  }));
});

afterAll(async () => {
  await adapter?.stop();
  await bot?.close();
  await engine?.close();
  await world?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

async function gradientPng(): Promise<Buffer> {
  seed += 1;
  const size = 96;
  const raw = Buffer.alloc(size * size);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) raw[y * size + x] = (x * 2 + y + seed) % 256;
  return sharp(raw, { raw: { width: size, height: size, channels: 1 } })
    .png()
    .toBuffer();
}

const sentTo = (channelId: string) =>
  world.rest.calls.filter(
    (call) => call.path === `/channels/${channelId}/messages` && call.method === 'POST',
  );

/** Post a scan; resolves with the thread id and the job id on the card's Acknowledge button. */
async function postScan(): Promise<{ threadId: string; jobId: string }> {
  png = await gradientPng();
  const url = world.cdn.add(`/attachments/10/${seed}/chest.png`, png, 'image/png');
  const message = messageCreate(world, {
    content: `<@${world.botId}> anything urgent?`,
    mention: true,
    attachments: [attachment(url, 'chest.png', png.length)],
  });
  world.gateway.dispatch('MESSAGE_CREATE', message);
  const threadId = message.id;
  const jobId = await waitFor(
    () => {
      const bodies = world.rest.calls
        .filter((call) => call.path.startsWith(`/channels/${threadId}/messages`) && call.body?.embeds?.length)
        .map((call) => JSON.stringify(call.body));
      return bodies.map((body) => /"custom_id":"qr:ack:([^"]+)"/.exec(body)?.[1]).find(Boolean);
    },
    20_000,
    'the read card',
  );
  return { threadId, jobId };
}

const pagesIn = (threadId: string, id: string) =>
  sentTo(threadId).filter((call) => String(call.body?.content ?? '').includes(`<@${id}>`));
const directTo = (userId: string) => {
  const dm = world.rest.dmChannelOf(userId);
  return dm ? sentTo(dm) : [];
};

function press(customId: string, channelId: string) {
  world.gateway.dispatch(
    'INTERACTION_CREATE',
    buttonInteraction(world, customId, { id: '1', channel_id: channelId, content: '', embeds: [] }),
  );
}

describe('Discord critical results', () => {
  it('pages the on-call with mentions limited to exactly them; an acknowledgement by another user stops it', async () => {
    const { threadId, jobId } = await postScan();
    await waitFor(() => directTo(ONCALL).length === 1, 10_000, 'the DM to the on-call');
    const page = pagesIn(threadId, ONCALL);
    expect(page).toHaveLength(1);
    expect(page[0]!.body.content).toMatch(new RegExp(`^<@${ONCALL}> <@&${ROLE}> 🔴 Critical read`));
    // Discord pings exactly the configured user and role, whatever any text says.
    expect(page[0]!.body.allowed_mentions).toEqual({
      parse: [],
      replied_user: false,
      users: [ONCALL],
      roles: [ROLE],
    });
    const dm = directTo(ONCALL)[0]!.body;
    expect(dm.allowed_mentions).toMatchObject({ parse: [], users: [ONCALL], roles: [] });
    expect(dm.nonce).toMatch(/^\d{24}$/);
    expect(dm.enforce_nonce).toBe(true);
    const details = dm.embeds[0].description as string;
    expect(details).toContain(`https://discord.com/channels/${world.guildId}/${threadId}`);
    // The model's own attempts to mention or link are inert.
    expect(details).not.toContain('@everyone');
    expect(details).not.toContain('<@&444444444444444444>');
    expect(details).not.toContain('https://evil.example');
    expect(JSON.stringify(dm.components)).toContain(`qr:nc:${jobId}`);

    // The requester (not the on-call) acknowledges.
    press(`qr:ack:${jobId}`, threadId);
    await waitFor(
      () =>
        world.rest.calls.some(
          (call) =>
            call.method === 'PATCH' && JSON.stringify(call.body ?? '').includes(`by <@${world.userId}> <t:`),
        ),
      10_000,
      'the card edited with the acknowledgement',
    );
    await waitFor(() => clock.waiting().length === 0, 10_000, 'the chain to stop');
    clock.advance(3 * TEN_MIN);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(pagesIn(threadId, BACKUP)).toHaveLength(0);
    expect(directTo(BACKUP)).toHaveLength(0);
    expect((await bot.store.getJob(jobId))?.escalation?.acknowledged?.userId).toBe(world.userId);
  }, 40_000);

  it('pages the backup after the timeout and says so in the thread; then the acknowledgement ends it', async () => {
    const { threadId, jobId } = await postScan();
    const dmsBefore = directTo(ONCALL).length;
    await waitFor(() => directTo(ONCALL).length === dmsBefore + 1, 10_000, 'the DM to the on-call');
    await waitFor(() => clock.waiting().length === 1, 10_000, 'the next step armed');
    clock.advance(TEN_MIN);
    await waitFor(() => directTo(BACKUP).length === 1, 10_000, 'the DM to the backup');
    const backup = pagesIn(threadId, BACKUP);
    expect(backup).toHaveLength(1);
    expect(backup[0]!.body.content).toBe(`<@${BACKUP}> Not acknowledged in 10 min; paged the backup.`);
    expect(backup[0]!.body.allowed_mentions).toMatchObject({ users: [BACKUP], roles: [] });
    expect(pagesIn(threadId, ONCALL)).toHaveLength(1);

    press(`qr:ack:${jobId}`, threadId);
    await waitFor(() => clock.waiting().length === 0, 10_000, 'the chain to stop');
    clock.advance(TEN_MIN);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const channelAlerts = sentTo(world.channelId).filter((call) =>
      String(call.body?.content ?? '').includes('not been acknowledged'),
    );
    expect(channelAlerts).toHaveLength(0);
  }, 40_000);
});
