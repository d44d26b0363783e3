import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.ts';
import type { ChatAdapter } from '../../../src/core/adapter.ts';
import { silentLogger } from '../../../src/log.ts';
import { snowflake } from '../../fakes/discord-rest.ts';
import { askQuickread, type DiscordWorld, startDiscordWorld } from './harness.ts';
import { startWithCoreDouble } from './suites.ts';

/** `/quickread` keeps to ALLOWED_CHANNELS / ALLOWED_USERS, as reads do (src/core/policy.ts). */

let world: DiscordWorld;
let adapter: ChatAdapter;
const dmChannel = snowflake();

beforeAll(async () => {
  world = await startDiscordWorld();
  // Only the DM channel is allowed, and only for the world's user.
  const config = loadConfig({ ...world.env, ALLOWED_CHANNELS: dmChannel, ALLOWED_USERS: world.userId });
  ({ adapter } = await startWithCoreDouble(world, silentLogger, { config }));
});

afterAll(async () => {
  await adapter?.stop();
  await world?.close();
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
