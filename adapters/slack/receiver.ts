import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type App,
  type Logger as BoltLogger,
  HTTPReceiver,
  type Receiver,
  SocketModeReceiver,
} from '@slack/bolt';
import type { Logger } from '../../src/log.ts';
import { createBoundedServer } from '../../src/net/http-bounds.ts';
import { listenError } from '../../src/net/listen-error.ts';
import { verifySlackSignature } from './verify.ts';

/**
 * Receivers that ack only after the core has persisted the request (Bolt's `processBeforeResponse`):
 * a crash between ack and persist would otherwise lose the scan, and Slack's retries cover a slow ack.
 */

export const EVENTS_PATH = '/slack/events';
const BODY_LIMIT = 4 * 1024 * 1024;

export interface HttpReceiverOptions {
  signingSecret: string;
  host?: string;
  port: number;
  clock: () => number;
  logger: Logger;
  boltLogger: BoltLogger;
}

export interface SlackHttpReceiver extends Receiver {
  address(): AddressInfo | undefined;
}

/**
 * Bolt's HTTPReceiver behind our own front door: the raw body is read once, verified here (v0 HMAC,
 * ±5 min with an injectable clock — Bolt checks only the past), then handed to Bolt already buffered
 * (`rawBody`, which Bolt's bufferIncomingMessage reuses) with Bolt's own check switched off, so exactly
 * one clock decides.
 */
export function createHttpReceiver(options: HttpReceiverOptions): SlackHttpReceiver {
  const inner = new HTTPReceiver({
    signingSecret: options.signingSecret,
    signatureVerification: false,
    processBeforeResponse: true,
    endpoints: EVENTS_PATH,
    logger: options.boltLogger,
  });
  let server: Server | undefined;

  const reply = (res: ServerResponse, status: number) => {
    res.writeHead(status);
    res.end();
  };

  async function listener(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== EVENTS_PATH || req.method !== 'POST') return reply(res, 404);
    let body: Buffer;
    try {
      body = await readBody(req, BODY_LIMIT);
    } catch {
      return reply(res, 413);
    }
    // Slack's SSL check for slash commands is unsigned and carries nothing to act on.
    if (/^ssl_check=1(&|$)/.test(body.toString('latin1')) && !req.headers['x-slack-signature'])
      return reply(res, 200);
    const failure = verifySlackSignature({
      signingSecret: options.signingSecret,
      rawBody: body,
      timestampHeader: header(req, 'x-slack-request-timestamp'),
      signatureHeader: header(req, 'x-slack-signature'),
      nowMs: options.clock(),
    });
    if (failure) {
      options.logger.warn({ reason: failure }, 'slack request rejected: signature check failed');
      return reply(res, 401);
    }
    Object.assign(req, { rawBody: body });
    try {
      inner.requestListener(req, res);
    } catch (error) {
      options.logger.error({ err: error }, 'slack receiver failed to dispatch');
      if (!res.headersSent) reply(res, 500);
    }
  }

  return {
    init(app: App) {
      inner.init(app);
    },
    start(port?: number) {
      return new Promise<Server>((resolve, reject) => {
        // Slow or idle clients are cut with 408 and connections capped (http-bounds.ts).
        const created = createBoundedServer((req, res) => {
          listener(req, res).catch(() => {
            if (!res.headersSent) reply(res, 500);
          });
        }, options.logger);
        const listenPort = port ?? options.port;
        created.once('error', (error) =>
          reject(
            listenError(error, { variable: 'SLACK_PORT', port: listenPort, host: options.host ?? '0.0.0.0' }),
          ),
        );
        created.listen({ port: listenPort, host: options.host }, () => {
          server = created;
          resolve(created);
        });
      });
    },
    stop() {
      return new Promise<void>((resolve) => {
        if (!server) return resolve();
        server.close(() => resolve());
        server.closeAllConnections();
        server = undefined;
      });
    },
    address() {
      const address = server?.address();
      return address && typeof address === 'object' ? address : undefined;
    },
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? undefined : value;
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    req.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (total > limit) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks, total)));
    req.on('error', reject);
  });
}

/**
 * Socket Mode (https://docs.slack.dev/apis/events-api/using-socket-mode): no public URL, Slack signs
 * nothing because the WebSocket is authenticated by the app token. Bolt's receiver acks an event before
 * the listeners run; this one replaces its `slack_event` handler so the envelope is acked after the
 * listeners (the core's persist) finish, with whatever the listener passed to ack().
 */
export function createSocketReceiver(options: {
  appToken: string;
  /** Web API base for apps.connections.open (SLACK_API_URL). */
  slackApiUrl: string;
  boltLogger: BoltLogger;
  logger: Logger;
}): Receiver {
  const inner = new SocketModeReceiver({
    appToken: options.appToken,
    logger: options.boltLogger,
    // Bolt hands installerOptions.clientOptions to the SocketModeClient's WebClient; no installer is
    // created without clientId/clientSecret.
    installerOptions: { clientOptions: { slackApiUrl: options.slackApiUrl, allowAbsoluteUrls: false } },
  });
  let app: App | undefined;
  inner.client.removeAllListeners('slack_event');
  inner.client.on('slack_event', async (args: SocketEventArgs) => {
    let acked = false;
    let response: unknown;
    const event = {
      body: args.body,
      retryNum: args.retry_num,
      retryReason: args.retry_reason,
      ack: async (payload?: unknown) => {
        if (acked) return;
        acked = true;
        response = payload;
      },
    };
    try {
      await app?.processEvent(event);
    } catch (error) {
      // Not acked: Slack redelivers an un-acked Socket Mode envelope (retry_num), so a request the
      // core could not store is not lost (api.slack.com/apis/socket-mode#acknowledge).
      options.logger.error({ err: error }, 'slack socket event failed; not acknowledged');
      return;
    }
    await args.ack(response);
  });
  return {
    init(boltApp: App) {
      app = boltApp;
      inner.init(boltApp);
    },
    start: () => inner.start(),
    stop: () => inner.stop(),
  };
}

interface SocketEventArgs {
  body: Record<string, unknown>;
  retry_num?: number;
  retry_reason?: string;
  ack: (response?: unknown) => Promise<void>;
}
