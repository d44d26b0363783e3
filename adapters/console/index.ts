import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from '../../src/config.ts';
import type { BotCore, ChatAdapter } from '../../src/core/adapter.ts';
import type { OutboundMessage, PostedRef } from '../../src/core/reply.ts';
import type { AttachmentRef, ThreadRef } from '../../src/core/types.ts';
import { AppError } from '../../src/errors.ts';
import type { Logger } from '../../src/log.ts';
import { createBoundedServer, type HttpBounds } from '../../src/net/http-bounds.ts';
import { listenError } from '../../src/net/listen-error.ts';
import { createConsoleAuth } from './auth.ts';
import { createUploadStore, tooLargeError } from './download.ts';
import { renderPreviewMessage } from './render.ts';
import { createConsoleRoutes } from './server.ts';
import { createConsoleState } from './state.ts';
import { defaultChannels } from './to-request.ts';

/**
 * The local web console (issue 8): a chat-shaped page on CONSOLE_HOST:CONSOLE_PORT that is one more
 * adapter in front of the same bot core, dispatcher and store as Slack and Discord.
 */
export interface ConsoleAdapterDeps {
  logger: Logger;
  clock?: () => number;
  /** Served before the console's own routes; main.ts mounts /healthz and /metrics here. */
  extraRoutes?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
  /** Shown in the banner when the engine is unreachable (e.g. the vLLM command from `doctor`). */
  engineCommand?: string;
  /** Told the address once listening, and the sign-in notice when there is one, so the CLI can print them. */
  onListening?: (url: string, signIn?: string) => void;
  /** Overrides CONSOLE_PORT (tests pass 0 for an ephemeral port; the config uses 0 for "off"). */
  port?: number;
  channels?: readonly string[];
  /** How often the engine banner is refreshed from the core's queue snapshot. */
  bannerIntervalMs?: number;
  /** Header/body timeouts and the connection cap (tests shorten them). */
  httpBounds?: HttpBounds;
}

export interface ConsoleAdapter extends ChatAdapter {
  /** The page's address once started. */
  readonly url: string | undefined;
}

const maxPreviews = 64;

export function createConsoleAdapter(config: Config, deps: ConsoleAdapterDeps): ConsoleAdapter {
  const clock = deps.clock ?? Date.now;
  const logger = deps.logger.child({ adapter: 'console' });
  const channels = deps.channels ?? defaultChannels;
  const maxUploadBytes = config.MAX_UPLOAD_MB * 1024 * 1024;
  const state = createConsoleState();
  // Uploads waiting for their read are part of the queue: at most QUEUE_MAX of them (download.ts).
  const uploads = createUploadStore({
    clock,
    newId: () => `u-${randomUUID()}`,
    maxHeld: config.QUEUE_MAX,
    etaSec: () => core?.queueStatus().etaSec ?? 60,
  });
  const previews = new Map<string, Buffer>();
  /** sha256 of previews already shown per thread, so a follow-up does not repeat the same picture. */
  const shownInThread = new Map<string, Set<string>>();
  const engineCommand = deps.engineCommand ?? 'quickread doctor   # says how to start the model server';
  let core: BotCore | undefined;
  let server: Server | undefined;
  let url: string | undefined;
  const timers: NodeJS.Timeout[] = [];

  const now = () => new Date(clock()).toISOString();

  const postBot = (thread: ThreadRef, message: OutboundMessage, id = `b-${randomUUID()}`): PostedRef => {
    state.setBotMessage(id, thread, message, now());
    return { thread, messageId: id };
  };

  const refreshBanner = () => {
    if (!core) return;
    try {
      const snapshot = core.queueStatus();
      state.setBanner({
        up: snapshot.engineUp,
        queued: snapshot.queued,
        running: snapshot.running,
        etaSec: snapshot.etaSec,
        model: snapshot.model,
        command: engineCommand,
      });
    } catch (error) {
      logger.warn({ err: error }, 'queue status unavailable');
    }
  };

  const adapter: ConsoleAdapter = {
    platform: 'console',
    get url() {
      return url;
    },

    async start(botCore) {
      core = botCore;
      // Throws CONFIG_INVALID (exit 2) before listening when the console would be open to the network.
      const auth = createConsoleAuth(config, clock);
      const route = createConsoleRoutes({
        logger,
        maxUploadBytes,
        serverNames: config.SERVER_NAMES,
        auth,
        channels,
        state,
        uploads,
        previews,
        core: () => core,
        postBot: (thread, message, visibleTo) => {
          if (visibleTo) state.setBotMessage(`b-${randomUUID()}`, thread, message, now(), visibleTo);
          else postBot(thread, message);
        },
        clock,
        ...(deps.extraRoutes ? { extraRoutes: deps.extraRoutes } : {}),
      });
      server = createBoundedServer(
        (req, res) => {
          void route(req, res);
        },
        logger,
        deps.httpBounds,
      );
      const port = deps.port ?? config.CONSOLE_PORT;
      await new Promise<void>((resolve, reject) => {
        server!.once('error', (error) =>
          reject(listenError(error, { variable: 'CONSOLE_PORT', port, host: config.CONSOLE_HOST })),
        );
        server!.listen(port, config.CONSOLE_HOST, () => resolve());
      });
      const address = server.address() as AddressInfo;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      url = `http://${host}:${address.port}/`;
      refreshBanner();
      timers.push(setInterval(refreshBanner, deps.bannerIntervalMs ?? 1000));
      timers.push(setInterval(() => state.heartbeat(), 15_000));
      for (const timer of timers) timer.unref();
      logger.info({ auth: auth.mode }, `console listening on ${url}`);
      deps.onListening?.(url, auth.notice(url));
    },

    async stop() {
      for (const timer of timers) clearInterval(timer);
      timers.length = 0;
      state.closeAll();
      const running = server;
      server = undefined;
      if (!running) return;
      await new Promise<void>((resolve) => {
        running.close(() => resolve());
        running.closeAllConnections();
      });
    },

    async download(attachment: AttachmentRef, signal: AbortSignal) {
      signal.throwIfAborted();
      if (attachment.platform !== 'console') {
        throw new AppError('DOWNLOAD_FORBIDDEN_HOST', 'console adapter asked for a foreign attachment');
      }
      const bytes = uploads.get(attachment.fileId);
      if (bytes.byteLength > maxUploadBytes) throw tooLargeError(maxUploadBytes);
      return bytes;
    },

    async post(thread, message) {
      return postBot(thread, message);
    },

    async update(ref, message) {
      // An id this process never posted (e.g. a job resumed after a restart) simply appears anew.
      postBot(ref.thread, message, ref.messageId);
      refreshBanner();
    },

    async react(_thread, messageId, reaction) {
      const message = state.get(messageId);
      if (!message) return;
      const emoji = { received: '👀', done: '✅', failed: '⚠️' }[reaction];
      state.upsert({ ...message, reaction: emoji });
    },

    async uploadPreview(thread, png, caption) {
      const threadKey = `${thread.channelId}/${thread.threadId}`;
      const digest = createHash('sha256').update(png).digest('hex');
      if (shownInThread.size > 1000) shownInThread.clear();
      const shown = shownInThread.get(threadKey) ?? new Set<string>();
      shownInThread.set(threadKey, shown);
      const jobId = state.cardAwaitingPreview(thread.channelId, thread.threadId);
      if (jobId !== undefined && shown.has(digest)) {
        state.updateCard(jobId, (card) => {
          card.extras.previewSameAsAbove = true;
        });
        return;
      }
      shown.add(digest);
      const id = `p-${randomUUID()}`;
      previews.set(id, png);
      for (const key of previews.keys()) {
        if (previews.size <= maxPreviews) break;
        previews.delete(key);
      }
      const previewUrl = `/api/previews/${id}.png`;
      const attached =
        jobId !== undefined &&
        state.updateCard(jobId, (card) => {
          card.extras.previewUrl = previewUrl;
          card.extras.previewCaption = caption;
        });
      if (!attached) {
        state.upsert({
          id: `b-${randomUUID()}`,
          ...thread,
          author: { kind: 'bot' },
          at: now(),
          view: renderPreviewMessage(previewUrl, caption),
        });
      }
    },

    async notifyPrivately(thread, userId, message) {
      state.setBotMessage(`b-${randomUUID()}`, thread, message, now(), userId);
    },
  };
  return adapter;
}
