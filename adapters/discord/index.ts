import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import {
  type APIInteraction,
  Client,
  Events,
  GatewayDispatchEvents,
  GatewayIntentBits,
  type GatewayMessageCreateDispatchData,
  type GatewayThreadCreateDispatchData,
  Options,
} from 'discord.js';
import type { Config } from '../../src/config.ts';
import type { BotCore, ChatAdapter } from '../../src/core/adapter.ts';
import type { AttachmentRef } from '../../src/core/types.ts';
import { AppError } from '../../src/errors.ts';
import type { Logger } from '../../src/log.ts';
import { createDiscordApi } from './api.ts';
import { type DownloadOptions, downloadAttachment, isAllowedUrl, normaliseOrigins } from './download.ts';
import { type InboundDeps, onInteractionCreate, onMessageCreate } from './inbound.ts';
import { createInteractionRegistry } from './interactions.ts';
import { createOutbound } from './outbound.ts';
import { createPageTransport } from './pages.ts';
import type { ChannelTarget } from './surfaces.ts';

/**
 * The Discord adapter: discord.js over the gateway (outbound WebSocket only, like Slack's Socket
 * Mode — no public URL). Gateway events are taken raw (`client.ws` dispatch, API v10 shapes) and
 * mapped by pure functions; replies go through discord.js's REST client, which handles rate limits;
 * the gateway connection, heartbeats, reconnects and RESUME are discord.js's (@discordjs/ws).
 * Events replayed after a resume reach the core again and are deduplicated there by event id
 * (message id / interaction id).
 */

export interface DiscordAdapterDeps {
  logger: Logger;
  /** Used for attachment downloads only (never carries the bot token). */
  fetch?: typeof fetch;
  clock?: () => number;
}

/** Attachments are fetched once, at receipt, because Discord's signed CDN URLs expire. */
const PREFETCH_TTL_MS = 10 * 60_000;
const START_TIMEOUT_MS = 60_000;

export function createDiscordAdapter(config: Config, deps: DiscordAdapterDeps): ChatAdapter {
  const logger = deps.logger.child({ adapter: 'discord' });
  const clock = deps.clock ?? Date.now;
  const client = new Client({
    // Message Content is a privileged intent: enable it for the bot in the Developer Portal.
    intents: [
      GatewayIntentBits.Guilds,
      GatewayIntentBits.GuildMessages,
      GatewayIntentBits.MessageContent,
      GatewayIntentBits.DirectMessages,
    ],
    rest: { api: config.DISCORD_API_URL },
    // Chat text (which may hold PHI) is not kept in discord.js's message cache.
    makeCache: Options.cacheWithLimits({ ...Options.DefaultMakeCacheSettings, MessageManager: 0 }),
  });
  client.rest.setToken(config.DISCORD_TOKEN);
  const api = createDiscordApi(client.rest);
  const interactions = createInteractionRegistry(clock);
  const threadTargets = new Map<string, Promise<ChannelTarget>>();
  const threadParents = new Map<string, string>();
  const outbound = createOutbound({ api, interactions, threadTargets, logger });
  const pages = createPageTransport(api);
  const downloadOptions: DownloadOptions = {
    allowedOrigins: config.DISCORD_CDN_HOSTS,
    maxBytes: config.MAX_UPLOAD_MB * 1024 * 1024,
    fetch: deps.fetch ?? globalThis.fetch,
  };
  const allowedOrigins = normaliseOrigins(config.DISCORD_CDN_HOSTS);
  /**
   * url → bytes fetched at receipt (until download() takes them), or a bare marker once the core has
   * downloaded it, so a prefetch that loses the race with the core does not fetch a second time.
   */
  const fetched = new Map<string, { bytes?: Promise<Buffer>; timer: NodeJS.Timeout }>();
  const inFlight = new Set<Promise<void>>();
  let botUserId = '';
  let started = false;

  function remember(url: string, bytes?: Promise<Buffer>): void {
    const timer = setTimeout(() => fetched.delete(url), PREFETCH_TTL_MS);
    timer.unref();
    fetched.set(url, bytes ? { bytes, timer } : { timer });
  }

  function prefetch(attachments: AttachmentRef[]): void {
    // The core reads every attachment of a message as one study, up to STUDY_MAX_IMAGES of them.
    for (const attachment of attachments.slice(0, config.STUDY_MAX_IMAGES)) {
      if (fetched.has(attachment.url) || !isAllowedUrl(attachment.url, allowedOrigins)) continue;
      const bytes = downloadAttachment(attachment.url, downloadOptions);
      bytes.catch(() => undefined); // observed later by download(); never an unhandled rejection
      remember(attachment.url, bytes);
    }
  }

  const inbound: Omit<InboundDeps, 'core'> = {
    api,
    interactions,
    threadTargets,
    botUserId: () => botUserId,
    cachedThreadParent(channelId) {
      const channel = client.channels.cache.get(channelId);
      if (channel?.isThread()) return channel.parentId ?? undefined;
      return threadParents.get(channelId);
    },
    rememberThread(threadId, parentId) {
      if (threadParents.size > 10_000) threadParents.delete(threadParents.keys().next().value as string);
      threadParents.set(threadId, parentId);
    },
    prefetch,
    post: (thread, message) => outbound.post(thread, message),
    clock,
    logger,
  };

  /** Run a gateway handler detached from the socket, logging failures (ids only, never content). */
  function track(work: Promise<void>, eventId: string): void {
    const tracked = work.catch((error: unknown) => {
      logger.error({ err: error, eventId }, 'discord event handling failed');
    });
    inFlight.add(tracked);
    void tracked.finally(() => inFlight.delete(tracked));
  }

  return {
    platform: 'discord',

    async start(core: BotCore): Promise<void> {
      const handlerDeps: InboundDeps = { ...inbound, core };
      client.ws.on(GatewayDispatchEvents.MessageCreate, (data: GatewayMessageCreateDispatchData) =>
        track(onMessageCreate(data, handlerDeps), data.id),
      );
      client.ws.on(GatewayDispatchEvents.InteractionCreate, (data: APIInteraction) =>
        track(onInteractionCreate(data, handlerDeps), data.id),
      );
      client.ws.on(GatewayDispatchEvents.ThreadCreate, (data: GatewayThreadCreateDispatchData) => {
        if (data.parent_id) inbound.rememberThread(data.id, data.parent_id);
      });
      client.on(Events.Error, (error) => logger.error({ err: error }, 'discord client error'));
      client.on(Events.ShardError, (error) => logger.warn({ err: error }, 'discord gateway error'));
      client.on(Events.ShardResume, (_id, replayed) => logger.info({ replayed }, 'discord gateway resumed'));

      const ready = once(client, Events.ClientReady);
      ready.catch(() => undefined); // awaited below; a late 'error' must not become unhandled
      const timer = new AbortController();
      const timeout = delay(START_TIMEOUT_MS, undefined, { ref: false, signal: timer.signal }).then(() => {
        throw new Error('no READY from the Discord gateway');
      });
      timeout.catch(() => undefined);
      try {
        await client.login(config.DISCORD_TOKEN);
        // READY, then every guild's GUILD_CREATE (discord.js waits up to 15 s for unavailable guilds).
        await Promise.race([ready, timeout]);
        timer.abort();
      } catch (error) {
        timer.abort();
        // Stop the gateway's reconnect loop: a half-started client would keep the process alive.
        await client.destroy().catch(() => undefined);
        throw new AppError('CONFIG_INVALID', 'discord login failed', {
          cause: error,
          userMessage:
            'Discord refused the bot token or its gateway could not be reached; check DISCORD_TOKEN and DISCORD_API_URL.',
        });
      }
      started = true;
      botUserId = client.user?.id ?? '';
      const applicationId = config.DISCORD_APP_ID || client.application?.id || '';
      if (config.DISCORD_APP_ID) {
        // Mentions work without the commands, so a failed registration is reported, not fatal.
        await api.registerCommands(applicationId).then(
          () => logger.info('discord slash commands registered'),
          (error: unknown) =>
            logger.warn({ err: error }, 'discord slash commands not registered; check DISCORD_APP_ID'),
        );
      }
      logger.info({ guilds: client.guilds.cache.size }, 'discord connected');
    },

    async stop(): Promise<void> {
      await Promise.allSettled([...inFlight]);
      interactions.clear();
      for (const { timer } of fetched.values()) clearTimeout(timer);
      fetched.clear();
      if (started) client.removeAllListeners();
      client.ws.removeAllListeners();
      await client.destroy();
    },

    async download(attachment, signal): Promise<Buffer> {
      const hit = fetched.get(attachment.url);
      if (hit?.bytes) {
        const { bytes } = hit;
        hit.bytes = undefined; // hand the buffer over; keep the marker
        try {
          return await bytes;
        } catch (error) {
          if (!(error instanceof AppError) || !error.retryable) throw error;
        }
      }
      if (!hit && isAllowedUrl(attachment.url, allowedOrigins)) remember(attachment.url);
      return downloadAttachment(attachment.url, downloadOptions, signal);
    },

    post: outbound.post,
    update: outbound.update,
    react: outbound.react,
    uploadPreview: outbound.uploadPreview,
    notifyPrivately: outbound.notifyPrivately,
    messageDirectly: pages.messageDirectly,
    postInChannel: pages.postInChannel,
    linkTo: pages.linkTo,
  };
}
