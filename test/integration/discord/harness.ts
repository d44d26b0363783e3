import { type Config, loadConfig } from '../../../src/config.ts';
import { type FakeGateway, startFakeGateway } from '../../fakes/discord-gateway.ts';
import {
  type FakeCdn,
  type FakeDiscordRest,
  snowflake,
  startFakeCdn,
  startFakeDiscordRest,
} from '../../fakes/discord-rest.ts';

/** Loopback Discord for adapter tests: REST + gateway + an allowed CDN + a second, foreign origin. */
export interface DiscordWorld {
  token: string;
  botId: string;
  appId: string;
  guildId: string;
  channelId: string;
  userId: string;
  rest: FakeDiscordRest;
  gateway: FakeGateway;
  cdn: FakeCdn;
  foreign: FakeCdn;
  env: Record<string, string>;
  config: Config;
  close(): Promise<void>;
}

export async function startDiscordWorld(extraEnv: Record<string, string> = {}): Promise<DiscordWorld> {
  // A token shaped like a real one (base64 user id . timestamp . hmac), so log scrubbing applies to it.
  const token = `MTIzNDU2Nzg5MDEyMzQ1Njc4OTA.GabcDE.${'x'.repeat(38)}`;
  const botId = snowflake();
  const appId = snowflake();
  const guildId = snowflake();
  const channelId = snowflake();
  const userId = snowflake();
  const rest = await startFakeDiscordRest({
    token,
    botUser: { id: botId, username: 'quickread' },
    applicationId: appId,
    channels: [{ id: channelId, type: 0, guild_id: guildId, name: 'reads' }],
  });
  const gateway = await startFakeGateway({
    token,
    user: { id: botId, username: 'quickread' },
    applicationId: appId,
    heartbeatIntervalMs: 200,
    guilds: [{ id: guildId, name: 'Teaching', channels: [{ id: channelId, type: 0, name: 'reads' }] }],
  });
  rest.setGatewayUrl(gateway.url);
  // Discord dispatches THREAD_CREATE to the bot after it starts a thread.
  rest.events.on('thread', (thread) => gateway.dispatch('THREAD_CREATE', { ...thread, newly_created: true }));
  // …and echoes the bot's own messages back as MESSAGE_CREATE, which the adapter must ignore.
  rest.events.on('message', (message) =>
    gateway.dispatch('MESSAGE_CREATE', { ...message, guild_id: guildId }),
  );
  const cdn = await startFakeCdn();
  const foreign = await startFakeCdn();
  const env = {
    DISCORD_TOKEN: token,
    DISCORD_APP_ID: appId,
    DISCORD_API_URL: rest.apiUrl,
    DISCORD_CDN_HOSTS: cdn.origin,
    CONSOLE_PORT: '0',
    ...extraEnv,
  };
  return {
    token,
    botId,
    appId,
    guildId,
    channelId,
    userId,
    rest,
    gateway,
    cdn,
    foreign,
    env,
    config: loadConfig(env),
    async close() {
      await Promise.allSettled([rest.close(), gateway.close(), cdn.close(), foreign.close()]);
    },
  };
}

export function attachment(url: string, filename: string, size: number, contentType = 'image/png') {
  return { id: snowflake(), filename, size, url, proxy_url: url, content_type: contentType };
}

/** A MESSAGE_CREATE payload as the gateway sends it (API v10). */
export function messageCreate(
  world: DiscordWorld,
  input: {
    content: string;
    channelId?: string;
    channelType?: number;
    mention?: boolean;
    attachments?: ReturnType<typeof attachment>[];
    id?: string;
    /** A direct message: no guild, channel type 1 (DM). */
    dm?: boolean;
  },
) {
  const author = {
    id: world.userId,
    username: 'dr.who',
    discriminator: '0',
    avatar: null,
    global_name: 'Dr Who',
  };
  return {
    id: input.id ?? snowflake(),
    channel_id: input.channelId ?? world.channelId,
    ...(input.dm
      ? { channel_type: 1 }
      : {
          guild_id: world.guildId,
          channel_type: input.channelType ?? 0,
          member: { roles: [], joined_at: new Date().toISOString(), deaf: false, mute: false, flags: 0 },
        }),
    author,
    content: input.content,
    timestamp: new Date().toISOString(),
    edited_timestamp: null,
    tts: false,
    mention_everyone: false,
    mentions: input.mention
      ? [
          {
            id: world.botId,
            username: 'quickread',
            discriminator: '0',
            avatar: null,
            global_name: null,
            bot: true,
          },
        ]
      : [],
    mention_roles: [],
    attachments: input.attachments ?? [],
    embeds: [],
    pinned: false,
    type: 0,
    flags: 0,
    components: [],
  };
}

/** A /read INTERACTION_CREATE payload with a resolved attachment option. */
export function readInteraction(
  world: DiscordWorld,
  file: ReturnType<typeof attachment>,
  question: string,
  where: { dm?: string; thread?: string; appPermissions?: string } = {},
) {
  const id = snowflake();
  const token = `aW50ZXJhY3Rpb246${id}:${'t'.repeat(40)}`;
  const user = {
    id: world.userId,
    username: 'dr.who',
    discriminator: '0',
    avatar: null,
    global_name: 'Dr Who',
  };
  const channelId = where.dm ?? where.thread ?? world.channelId;
  world.rest.bindInteraction(token, channelId);
  // A DM carries `user` and no guild; in a guild the invoker is `member.user` ("Interaction Object").
  const origin = where.dm
    ? {
        channel_id: channelId,
        channel: { id: channelId, type: 1 },
        user,
        authorizing_integration_owners: { '0': world.guildId },
        context: 1,
      }
    : {
        guild_id: world.guildId,
        channel_id: channelId,
        channel: where.thread
          ? { id: channelId, type: 11, guild_id: world.guildId, parent_id: world.channelId, name: 'a thread' }
          : { id: channelId, type: 0, guild_id: world.guildId, name: 'reads' },
        member: {
          user,
          roles: [],
          permissions: '0',
          joined_at: new Date().toISOString(),
          deaf: false,
          mute: false,
          flags: 0,
        },
        guild_locale: 'en-US',
        authorizing_integration_owners: { '0': world.guildId },
        context: 0,
      };
  return {
    id,
    application_id: world.appId,
    type: 2,
    token,
    version: 1,
    ...origin,
    // The bot's computed permissions in the channel: the README's invite set (threads included).
    app_permissions: where.appPermissions ?? '309237763136',
    locale: 'en-GB',
    entitlements: [],
    attachment_size_limit: 10_485_760,
    data: {
      id: snowflake(),
      name: 'read',
      type: 1,
      options: [
        { name: 'image', type: 11, value: file.id },
        { name: 'question', type: 3, value: question },
      ],
      resolved: { attachments: { [file.id]: file } },
    },
  };
}

/** A button click (MESSAGE_COMPONENT) on one of the bot's messages. */
export function buttonInteraction(world: DiscordWorld, customId: string, message: unknown) {
  const id = snowflake();
  const token = `YnV0dG9u${id}:${'b'.repeat(40)}`;
  world.rest.bindInteraction(token, world.channelId);
  return {
    id,
    application_id: world.appId,
    type: 3,
    token,
    version: 1,
    guild_id: world.guildId,
    channel_id: world.channelId,
    channel: { id: world.channelId, type: 0, guild_id: world.guildId, name: 'reads' },
    member: {
      user: { id: world.userId, username: 'dr.who', discriminator: '0', avatar: null, global_name: 'Dr Who' },
      roles: [],
      permissions: '0',
      joined_at: new Date().toISOString(),
      deaf: false,
      mute: false,
      flags: 0,
    },
    message,
    app_permissions: '0',
    locale: 'en-GB',
    entitlements: [],
    authorizing_integration_owners: { '0': world.guildId },
    context: 0,
    attachment_size_limit: 10_485_760,
    data: { custom_id: customId, component_type: 2 },
  };
}

export async function waitFor<T>(
  probe: () => T | undefined | false,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Send `/quickread` over the gateway (in the world's channel, or a DM) and wait for its callback. */
export async function askQuickread(world: DiscordWorld, where: { dm?: string } = {}) {
  const interaction = {
    ...readInteraction(world, attachment('x', 'x.png', 1), '', where),
    data: { id: '1', name: 'quickread', type: 1 },
  };
  world.gateway.dispatch('INTERACTION_CREATE', interaction);
  return waitFor(
    () =>
      world.rest.calls.find(
        (c) => c.path === `/interactions/${interaction.id}/${interaction.token}/callback`,
      ),
    5000,
    'the /quickread answer',
  );
}
