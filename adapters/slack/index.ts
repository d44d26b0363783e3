import type { AddressInfo } from 'node:net';
import { App, type Receiver } from '@slack/bolt';
import type { Config } from '../../src/config.ts';
import type { BotCore, ChatAdapter } from '../../src/core/adapter.ts';
import { AppError } from '../../src/errors.ts';
import type { Logger } from '../../src/log.ts';
import { toBoltLogger } from './bolt-logger.ts';
import { createSlackDownloader } from './download.ts';
import { isNotStored, registerListeners } from './listeners.ts';
import { createOutbound } from './outbound.ts';
import { createChannelPacer } from './pacing.ts';
import { createHttpReceiver, createSocketReceiver, type SlackHttpReceiver } from './receiver.ts';

/**
 * The Slack adapter (DESIGN §1: transport only — verify, ack, download, post). Socket Mode by default
 * (hospitals sit behind firewalls; no public URL), HTTP with SLACK_MODE=http.
 */

export interface SlackAdapterDeps {
  logger: Logger;
  /** Used for file downloads and the preview upload (never for anything carrying the token off-list). */
  fetch?: typeof fetch;
  /** Milliseconds since the epoch; the signature window is checked against it. */
  clock?: () => number;
  /**
   * WebClient retry policy (p-retry options). The default — Bolt's ten retries in about 30 minutes —
   * rides out 429s (Retry-After is honoured before each retry) and Slack outages.
   */
  webRetry?: {
    retries: number;
    factor?: number;
    minTimeout?: number;
    maxTimeout?: number;
    randomize?: boolean;
  };
  /** Minimum gap between posts in one channel (Slack: about one message per second). */
  paceMs?: number;
  /** HTTP mode listen address (default all interfaces). */
  host?: string;
}

export interface SlackAdapter extends ChatAdapter {
  /** The bound HTTP address in HTTP mode (SLACK_PORT may be 0 in tests). */
  httpAddress(): AddressInfo | undefined;
}

export function createSlackAdapter(config: Config, deps: SlackAdapterDeps): SlackAdapter {
  const logger = deps.logger.child({ adapter: 'slack' });
  const clock = deps.clock ?? Date.now;
  const doFetch = deps.fetch ?? globalThis.fetch;
  const boltLogger = toBoltLogger(logger);
  if (!config.SLACK_BOT_TOKEN) throw new AppError('CONFIG_INVALID', 'SLACK_BOT_TOKEN missing');

  let receiver: Receiver;
  let httpReceiver: SlackHttpReceiver | undefined;
  if (config.SLACK_MODE === 'http') {
    if (!config.SLACK_SIGNING_SECRET) {
      throw new AppError('CONFIG_INVALID', 'SLACK_SIGNING_SECRET missing', {
        userMessage:
          'SLACK_MODE=http needs SLACK_SIGNING_SECRET (Slack app → Basic Information → Signing Secret).',
      });
    }
    httpReceiver = createHttpReceiver({
      signingSecret: config.SLACK_SIGNING_SECRET,
      port: config.SLACK_PORT,
      host: deps.host,
      clock,
      logger,
      boltLogger,
    });
    receiver = httpReceiver;
  } else {
    if (!config.SLACK_APP_TOKEN) {
      throw new AppError('CONFIG_INVALID', 'SLACK_APP_TOKEN missing', {
        userMessage:
          'Socket Mode needs SLACK_APP_TOKEN (an xapp- token with connections:write), or set SLACK_MODE=http.',
      });
    }
    receiver = createSocketReceiver({
      appToken: config.SLACK_APP_TOKEN,
      slackApiUrl: config.SLACK_API_URL,
      boltLogger,
      logger,
    });
  }

  const app = new App({
    token: config.SLACK_BOT_TOKEN,
    receiver,
    logger: boltLogger,
    deferInitialization: true,
    ignoreSelf: true,
    clientOptions: {
      slackApiUrl: config.SLACK_API_URL,
      // Absolute URLs in apiCall would carry the token anywhere; only the configured API base is allowed.
      allowAbsoluteUrls: false,
      rejectRateLimitedCalls: false,
      timeout: 30_000,
      ...(deps.webRetry ? { retryConfig: deps.webRetry } : {}),
    },
  });

  const pacer = createChannelPacer({ minTimeMs: deps.paceMs ?? 1000 });
  const apiOrigin = new URL(config.SLACK_API_URL).origin;
  const outbound = createOutbound({
    client: app.client,
    pacer,
    fetch: doFetch,
    logger,
    uploadOrigins: [...config.SLACK_FILE_HOSTS.map((o) => new URL(o).origin), apiOrigin],
  });
  const download = createSlackDownloader({
    token: config.SLACK_BOT_TOKEN,
    allowedOrigins: config.SLACK_FILE_HOSTS,
    maxBytes: config.MAX_UPLOAD_MB * 1024 * 1024,
    fetch: doFetch,
    resolveUrl: async (fileId) => {
      const info = await app.client.files.info({ file: fileId });
      return info.file?.url_private_download ?? info.file?.url_private;
    },
  });

  let core: BotCore | undefined;
  let botUserId: string | undefined;
  const pending = new Set<Promise<unknown>>();
  const background = (task: Promise<unknown>) => {
    const tracked = task
      .catch((error: unknown) => logger.warn({ err: error }, 'slack: background reply failed'))
      .finally(() => pending.delete(tracked));
    pending.add(tracked);
  };

  // Bolt's default error handler logs and swallows listener errors, so the request would still be
  // acked (200). A request the core could not store must not be: rethrow it so the receiver answers
  // 5xx (or Socket Mode withholds the ack) and Slack delivers it again.
  app.error(async (error) => {
    if (isNotStored(error)) throw error;
    logger.error({ err: error }, 'slack: listener failed');
  });

  registerListeners(app, {
    core: () => {
      if (!core) throw new AppError('INTERNAL', 'slack adapter used before start()');
      return core;
    },
    botUserId: () => botUserId,
    clock,
    logger,
    notify: outbound.notifyPrivately,
    background,
  });
  return {
    platform: 'slack',
    async start(botCore: BotCore) {
      core = botCore;
      try {
        await app.init();
        botUserId = (await app.client.auth.test()).user_id;
      } catch (error) {
        throw startupError(error);
      }
      if (httpReceiver) await app.start(config.SLACK_PORT);
      else await app.start();
      logger.info({ mode: config.SLACK_MODE }, 'slack adapter started');
    },
    async stop() {
      await Promise.allSettled([...pending]);
      await pacer.stop();
      await app.stop().catch(() => undefined);
    },
    download,
    post: outbound.post,
    update: outbound.update,
    react: outbound.react,
    uploadPreview: outbound.uploadPreview,
    notifyPrivately: outbound.notifyPrivately,
    messageDirectly: outbound.messageDirectly,
    postInChannel: outbound.postInChannel,
    linkTo: outbound.linkTo,
    httpAddress: () => httpReceiver?.address(),
    /** HTTP mode: the local listener Slack's Request URLs must reach (through your HTTPS proxy). */
    get url() {
      const address = httpReceiver?.address();
      if (!address) return undefined;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      return `http://${host}:${address.port}/slack/events`;
    },
  };
}

/** auth.test failing means a bad token, or no route to the Web API: say which (never the token). */
function startupError(error: unknown): AppError {
  const text =
    error instanceof Error
      ? `${error.message} ${String((error as { original?: unknown }).original ?? '')}`
      : String(error);
  if (
    /invalid_auth|not_authed|account_inactive|token_revoked|token_expired|not_allowed_token_type/.test(text)
  ) {
    return new AppError('CONFIG_INVALID', 'slack auth.test rejected the bot token', {
      cause: error,
      userMessage:
        'Slack rejected SLACK_BOT_TOKEN (auth.test failed): check the xoxb- token and that the app is installed in the workspace.',
    });
  }
  return new AppError('CHAT_API_FAILED', 'slack auth.test failed', {
    cause: error,
    userMessage:
      'quickread could not reach the Slack Web API (SLACK_API_URL) to check its token; check the network and try again.',
  });
}
