import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Config } from '../../src/config.ts';
import type { BotCore, ChatAdapter } from '../../src/core/adapter.ts';
import { notes, type OutboundMessage, type PostedRef, type ReadCard } from '../../src/core/reply.ts';
import type { ThreadRef } from '../../src/core/types.ts';
import { AppError } from '../../src/errors.ts';
import type { Logger } from '../../src/log.ts';
import { conversationIdOf, type TeamsActivity } from './activity.ts';
import { createTokenSource, createVerifier, teamsAuthConfig } from './auth.ts';
import { createConnector, statusOf } from './connector.ts';
import { downloadTeamsAttachment } from './download.ts';
import { onHostList } from './hosts.ts';
import { type InboundDeps, onCardAction, onMessage } from './inbound.ts';
import { fitPreview } from './preview.ts';
import {
  activityBytes,
  type CardAttachment,
  MESSAGE_BUDGET_BYTES,
  type ReadExtras,
  renderOutbound,
  renderRead,
} from './render.ts';
import { openServiceUrls, type ServiceUrls } from './service-urls.ts';

/**
 * The Microsoft Teams adapter: an HTTPS-terminated reverse proxy forwards Azure Bot Service's POSTs to
 * http://host:TEAMS_PORT/api/messages. Each activity's JWT is verified by the Microsoft 365 Agents SDK
 * (auth.ts); replies go to the activity's own Bot Connector (connector.ts) as Adaptive Cards in the
 * thread; inline images are fetched by our own downloader (download.ts).
 */

export interface TeamsAdapterDeps {
  logger: Logger;
  /** Interface to bind (default: all, so the proxy can reach it). */
  host?: string;
  /** Used for attachment downloads. */
  fetch?: typeof fetch;
  clock?: () => number;
  /** Connector back-off base in ms (tests shorten it). */
  retryBaseMs?: number;
}

export const MESSAGES_PATH = '/api/messages';
/** Activities are small JSON; anything larger is not from the Bot Connector. */
const MAX_BODY_BYTES = 1024 * 1024;

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    if (total > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function reply(res: ServerResponse, status: number, body?: unknown): void {
  if (res.headersSent) return;
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}

export function createTeamsAdapter(config: Config, deps: TeamsAdapterDeps): ChatAdapter {
  const logger = deps.logger.child({ adapter: 'teams' });
  const clock = deps.clock ?? Date.now;
  const authConfig = teamsAuthConfig(config);
  const verify = createVerifier(authConfig);
  const token = createTokenSource(authConfig);
  const connector = createConnector({
    serviceHosts: config.TEAMS_SERVICE_HOSTS,
    token,
    logger,
    ...(deps.retryBaseMs !== undefined ? { baseMs: deps.retryBaseMs } : {}),
  });
  const downloadOptions = {
    serviceHosts: config.TEAMS_SERVICE_HOSTS,
    fileHosts: config.TEAMS_FILE_HOSTS,
    maxBytes: config.MAX_UPLOAD_MB * 1024 * 1024,
    token,
    fetch: deps.fetch ?? globalThis.fetch,
  };
  /**
   * The last read card posted in each thread, so the preview can be added to it in place, and kept
   * on it when the card is edited again (acknowledged).
   */
  const reads = new Map<string, { ref: PostedRef; card: ReadCard; preview?: ReadExtras['preview'] }>();
  /** Cards re-rendered while an invoke for that message waits, returned in its HTTP response. */
  const captures = new Map<string, (card: CardAttachment) => void>();
  const inFlight = new Set<Promise<unknown>>();
  let serviceUrls: ServiceUrls | undefined;
  let server: Server | undefined;
  let url: string | undefined;

  /**
   * Display names of people who pressed a button, learnt from their invoke (Entra object id → name),
   * so an acknowledged card can say who. Kept in memory only; never logged.
   */
  const names = new Map<string, string>();
  const extrasFor = (card: ReadCard): ReadExtras => {
    const name = card.acknowledgedBy ? names.get(card.acknowledgedBy.userId) : undefined;
    return name ? { acknowledgedByName: name } : {};
  };
  /** How a message renders at `ref`: a read keeps the preview already shown on that message. */
  const extrasOf = (message: OutboundMessage, ref?: PostedRef): ReadExtras => {
    if (message.kind !== 'read') return {};
    const shown = ref ? reads.get(threadKey(ref.thread)) : undefined;
    const preview = shown?.ref.messageId === ref?.messageId ? shown?.preview : undefined;
    return { ...extrasFor(message.card), ...(preview ? { preview } : {}) };
  };
  function learnName(activity: TeamsActivity): void {
    const id = activity.from?.aadObjectId ?? activity.from?.id;
    const name = activity.from?.name;
    if (!id || !name) return;
    names.delete(id);
    names.set(id, name);
    if (names.size > 5000) names.delete(names.keys().next().value as string);
  }

  const threadKey = (thread: ThreadRef) => `${thread.channelId}\n${thread.threadId}`;

  function serviceUrlOf(thread: ThreadRef): string {
    const known = serviceUrls?.get(thread.channelId);
    if (!known)
      throw new AppError('CHAT_API_FAILED', 'no teams service url for this conversation', {
        retryable: false,
      });
    return known;
  }

  function remember(ref: PostedRef, message: OutboundMessage, preview?: ReadExtras['preview']): void {
    if (message.kind !== 'read') return;
    const key = threadKey(ref.thread);
    reads.delete(key);
    reads.set(key, { ref, card: message.card, ...(preview ? { preview } : {}) });
    if (reads.size > 1000) reads.delete(reads.keys().next().value as string);
  }

  async function post(thread: ThreadRef, message: OutboundMessage): Promise<PostedRef> {
    const replyTo = thread.threadId !== thread.channelId ? thread.threadId : undefined;
    const id = await connector.send(
      serviceUrlOf(thread),
      conversationIdOf(thread),
      { attachments: [renderOutbound(message, extrasOf(message))] },
      replyTo,
    );
    const ref = { thread, messageId: id };
    remember(ref, message);
    return ref;
  }

  async function update(ref: PostedRef, message: OutboundMessage): Promise<void> {
    const extras = extrasOf(message, ref);
    const attachment = renderOutbound(message, extras);
    captures.get(ref.messageId)?.(attachment);
    await connector.update(serviceUrlOf(ref.thread), conversationIdOf(ref.thread), ref.messageId, {
      attachments: [attachment],
    });
    remember(ref, message, extras.preview);
  }

  /** The read card again, now with the preview; 413 (too large for Teams) keeps it without, plus a note. */
  async function uploadPreview(thread: ThreadRef, png: Buffer, caption: string): Promise<void> {
    const read = reads.get(threadKey(thread));
    if (!read) return; // posted before a restart: the card stands without a preview
    const bare = {
      attachments: [
        renderRead(read.card, {
          ...extrasFor(read.card),
          preview: { bytes: Buffer.alloc(0), mime: 'image/jpeg', caption },
        }),
      ],
    };
    const fitted = await fitPreview(png, MESSAGE_BUDGET_BYTES - activityBytes(bare) - 512);
    if (!fitted) {
      await post(thread, notes.previewTooLarge);
      return;
    }
    const preview = { bytes: fitted.bytes, mime: fitted.mime, caption };
    const card = renderRead(read.card, { ...extrasFor(read.card), preview });
    try {
      await connector.update(serviceUrlOf(thread), conversationIdOf(thread), read.ref.messageId, {
        attachments: [card],
      });
      remember(read.ref, { kind: 'read', card: read.card }, preview);
    } catch (error) {
      if (statusOf(error) !== 413) throw error;
      logger.warn({ status: 413 }, 'teams refused the card with its preview; kept without');
      await post(thread, notes.previewTooLarge);
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse, core: BotCore): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path !== MESSAGES_PATH) return reply(res, 404);
    if (req.method !== 'POST') return reply(res, 405);
    const claims = await verify(req.method, req.headers);
    if (!claims) return reply(res, 401, { error: 'unauthorized' });
    const raw = await readBody(req);
    if (!raw) return reply(res, 413);
    let activity: TeamsActivity;
    try {
      activity = JSON.parse(raw.toString('utf8')) as TeamsActivity;
    } catch {
      return reply(res, 400, { error: 'invalid JSON' });
    }
    // A Bot Connector token names the connector it was issued for: an activity claiming another one is
    // refused, since replies (and the bot token) would go there (Bot Framework authentication, step 4).
    if (typeof claims.serviceurl === 'string' && claims.serviceurl !== activity.serviceUrl)
      return reply(res, 401, { error: 'serviceUrl does not match the token' });
    const tenant = activity.conversation?.tenantId ?? activity.channelData?.tenant?.id;
    if (config.TEAMS_TENANT_ID && tenant && tenant !== config.TEAMS_TENANT_ID) {
      logger.warn({ eventId: activity.id }, 'teams activity from another tenant refused');
      return reply(res, 403, { error: 'tenant not allowed' });
    }
    if (!activity.serviceUrl || !onHostList(activity.serviceUrl, config.TEAMS_SERVICE_HOSTS)) {
      logger.warn(
        { eventId: activity.id },
        'teams activity with a serviceUrl outside TEAMS_SERVICE_HOSTS refused',
      );
      return reply(res, 403, { error: 'serviceUrl not allowed' });
    }
    const conversation = activity.conversation?.id?.replace(/;messageid=.*$/, '');
    if (conversation) await serviceUrls!.remember(conversation, activity.serviceUrl);
    const inbound: InboundDeps = {
      core,
      post,
      captureUpdate,
      clock,
      logger,
    };
    if (activity.type === 'message') {
      await onMessage(activity, inbound);
      return reply(res, 200, {});
    }
    if (activity.type === 'invoke' && activity.name === 'adaptiveCard/action') {
      learnName(activity);
      return reply(res, 200, await onCardAction(activity, inbound));
    }
    return reply(res, 200, {});
  }

  async function captureUpdate(
    messageId: string,
    work: () => Promise<unknown>,
  ): Promise<CardAttachment | undefined> {
    let captured: CardAttachment | undefined;
    captures.set(messageId, (card) => {
      captured = card;
    });
    try {
      await work();
    } finally {
      captures.delete(messageId);
    }
    if (captured) return captured;
    // Nothing re-rendered (e.g. already acknowledged): the card as this process last showed it.
    for (const { ref, card } of reads.values())
      if (ref.messageId === messageId) return renderRead(card, extrasOf({ kind: 'read', card }, ref));
    return undefined;
  }

  return {
    platform: 'teams',
    get url() {
      return url;
    },

    async start(core: BotCore): Promise<void> {
      const missing = (['TEAMS_APP_PASSWORD', 'TEAMS_TENANT_ID'] as const).filter(
        (key) => config[key] === '',
      );
      if (missing.length > 0)
        throw new AppError('CONFIG_INVALID', `teams needs ${missing.join(', ')}`, {
          userMessage: `Teams is on (TEAMS_APP_ID is set) but ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not: copy them from the Azure Bot's app registration.`,
        });
      // A wrong secret shows now, not at the first reply; Entra being unreachable does not stop the start.
      await token().catch((error: unknown) =>
        logger.warn({ err: error }, 'teams bot token not available yet; check with quickread doctor'),
      );
      serviceUrls = await openServiceUrls(join(config.DATA_DIR, 'teams', 'service-urls.json'));
      server = createServer((req, res) => {
        const work = handle(req, res, core).catch((error: unknown) => {
          logger.error({ err: error }, 'teams activity handling failed');
          // 500 makes the Bot Connector redeliver; the core's dedupe absorbs a repeat.
          reply(res, 500);
        });
        inFlight.add(work);
        void work.finally(() => inFlight.delete(work));
      });
      server.listen(config.TEAMS_PORT, deps.host);
      await once(server, 'listening');
      const { port } = server.address() as AddressInfo;
      url = `http://${deps.host ?? '0.0.0.0'}:${port}${MESSAGES_PATH}`;
      logger.info({ port }, 'teams listening');
    },

    async stop(): Promise<void> {
      if (server) {
        const closing = new Promise((resolve) => server!.close(resolve));
        server.closeIdleConnections();
        await Promise.allSettled([...inFlight]);
        await closing;
      }
    },

    download: (attachment, signal) => downloadTeamsAttachment(attachment, downloadOptions, signal),
    post,
    update,
    uploadPreview,
  };
}
