import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatAdapter } from '../../../src/core/adapter.ts';
import { silentLogger } from '../../../src/log.ts';
import { snowflake } from '../../fakes/discord-rest.ts';
import type { TestBot } from '../../helpers/test-bot.ts';
import { askQuickread, type DiscordWorld, startDiscordWorld } from './harness.ts';
import { startWithRealBot } from './suites.ts';

/**
 * `/quickread` keeps to ALLOWED_CHANNELS / ALLOWED_USERS, as reads do: the real core decides
 * (src/core/policy.ts), the adapter only shows its answer.
 */

let world: DiscordWorld;
let adapter: ChatAdapter;
let bot: TestBot;
let dataDir: string;
const dmChannel = snowflake();

beforeAll(async () => {
  world = await startDiscordWorld();
  dataDir = await mkdtemp(join(tmpdir(), 'qr-discord-allow-'));
  // Only the DM channel is allowed, and only for the world's user. No read is made: no engine runs.
  ({ bot, adapter } = await startWithRealBot(world, {
    engineUrl: 'http://127.0.0.1:9/v1',
    dataDir,
    logger: silentLogger,
    config: { ALLOWED_CHANNELS: dmChannel, ALLOWED_USERS: world.userId },
  }));
});

afterAll(async () => {
  await adapter?.stop();
  await bot?.close();
  await world?.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function askHelp(where: { dm?: string }) {
  const call = await askQuickread(world, where);
  expect(call.body.data.flags).toBe(64); // ephemeral either way
  return JSON.stringify(call.body.data);
}

describe('discord /quickread and the allow-lists', () => {
  it('outside ALLOWED_CHANNELS says quickread is not enabled, and shows no help or queue', async () => {
    const answer = await askHelp({});
    expect(answer).toContain('not enabled for this channel or user');
    expect(answer).not.toContain('business associate agreement');
  });

  it('inside the allow-lists answers with the help text', async () => {
    const answer = await askHelp({ dm: dmChannel });
    expect(answer).toContain('business associate agreement');
    expect(answer).not.toContain('not enabled');
  });
});
