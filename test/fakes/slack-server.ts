import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse as parseQuery } from 'node:querystring';
import { type WebSocket, WebSocketServer } from 'ws';

/**
 * A loopback fake of the Slack Web API (https://docs.slack.dev/reference/methods) and of files.slack.com:
 * answers the methods quickread calls with Slack's response shapes, records every call with its
 * Authorization header, serves files only to the right bearer token (anyone else gets an HTML sign-in
 * page, as Slack does), accepts files-upload-v2 uploads, and can answer a method with 429 + Retry-After.
 */

/** Web API arguments as Slack's JSON: tests index into them freely. */
// biome-ignore lint/suspicious/noExplicitAny: arbitrary JSON from the WebClient, asserted on by tests
export type SlackArgs = Record<string, any>;

export interface FakeSlackCall {
  method: string;
  args: SlackArgs;
  authorization: string | undefined;
  at: number;
  /** Answered 429 by rateLimitOnce. */
  rateLimited?: boolean;
  /** The JSON answer sent back. */
  result?: Record<string, unknown>;
}

export interface SocketAck {
  envelope_id: string;
  payload?: unknown;
  at: number;
}

export interface FakeFileRequest {
  path: string;
  authorization: string | undefined;
}

export interface FakeSlackFile {
  id: string;
  name: string;
  mimetype: string;
  filetype: string;
  size: number;
  mode: string;
  is_external: boolean;
  url_private: string;
  url_private_download: string;
}

export interface FakeSlack {
  apiUrl: string;
  origin: string;
  botUserId: string;
  calls: FakeSlackCall[];
  callsTo(method: string): FakeSlackCall[];
  /** The ts of each message chat.postMessage created in a thread. */
  postedTs(threadTs: string): string[];
  fileRequests: FakeFileRequest[];
  uploads: Array<{ fileId: string; bytes: Buffer; authorization: string | undefined }>;
  addFile(bytes: Buffer, options?: { name?: string; mimetype?: string; path?: string }): FakeSlackFile;
  /** GET `path` answers a redirect to `location`. */
  addRedirect(path: string, location: string): void;
  rateLimitOnce(method: string, retryAfterSec: number): void;
  /** The next call of `method` whose text contains `marker` answers `{ ok: false, error }` (a Slack refusal). */
  refuseOnce(method: string, marker: string, error: string): void;
  /** The next `count` chat.postMessage / chat.update calls that carry blocks are refused with `error`. */
  refuseBlocks(error: string, count?: number): void;
  /** The next `count` chat.postMessage / chat.update calls are refused with `error`, blocks or not. */
  refuseMessages(error: string, count?: number): void;
  /** What a message shows now (after its edits), by ts. */
  message(ts: string): { text: string; blocks: SlackArgs[]; thread_ts?: string } | undefined;
  /**
   * Socket Mode (https://docs.slack.dev/apis/events-api/using-socket-mode): send one envelope over the
   * open WebSocket and resolve with the app's ack frame ({envelope_id, payload}).
   */
  socketSend(type: 'events_api' | 'interactive' | 'slash_commands', payload: unknown): Promise<SocketAck>;
  socketConnected(): boolean;
  /**
   * End the current Socket Mode connection as Slack does: `polite` sends a `disconnect` message with
   * reason `refresh_requested` first (connections are refreshed every few hours), else the TCP
   * connection just drops (network loss). The client must open a new one through apps.connections.open.
   */
  socketDisconnect(polite: boolean): void;
  waitFor(predicate: () => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const loginPage =
  '<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in to Slack</body></html>';

/**
 * What Slack checks before it takes a message's blocks (https://docs.slack.dev/reference/block-kit/blocks):
 * at most 50 blocks, 3,000 characters per section text, 150 per header (invalid_blocks), and about
 * 12,000 characters of text over all blocks (msg_blocks_too_long; slackapi/bolt-js issues 2509, 2867).
 */
export const SLACK_TOTAL_BLOCKS_TEXT = 12_000;

function textLength(value: unknown): number {
  if (Array.isArray(value)) return value.reduce((sum: number, item) => sum + textLength(item), 0);
  if (!value || typeof value !== 'object') return 0;
  return Object.entries(value).reduce(
    (sum, [key, child]) =>
      sum + (key === 'text' && typeof child === 'string' ? child.length : textLength(child)),
    0,
  );
}

export function blocksRefusal(blocks: unknown): string | undefined {
  if (blocks === undefined) return undefined;
  if (!Array.isArray(blocks) || blocks.length > 50) return 'invalid_blocks';
  for (const block of blocks as SlackArgs[]) {
    if (block.type === 'section' && typeof block.text?.text === 'string' && block.text.text.length > 3000)
      return 'invalid_blocks';
    if (block.type === 'header' && String(block.text?.text ?? '').length > 150) return 'invalid_blocks';
    if (block.type === 'context' && (block.elements?.length ?? 0) > 10) return 'invalid_blocks';
  }
  if (textLength(blocks) > SLACK_TOTAL_BLOCKS_TEXT) return 'msg_blocks_too_long';
  return undefined;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** The WebClient sends form-urlencoded bodies with nested values JSON-encoded. */
function parseArgs(body: Buffer, contentType: string | undefined): SlackArgs {
  if (contentType?.includes('application/json')) return JSON.parse(body.toString('utf8') || '{}');
  const form = parseQuery(body.toString('utf8'));
  const args: SlackArgs = {};
  for (const [key, value] of Object.entries(form)) {
    const text = Array.isArray(value) ? value[0] : value;
    if (typeof text === 'string' && /^[[{]/.test(text)) {
      try {
        args[key] = JSON.parse(text);
        continue;
      } catch {
        // plain text that happens to start with a bracket
      }
    }
    args[key] = text;
  }
  return args;
}

export async function startFakeSlack(options: {
  botToken: string;
  botUserId?: string;
  /** xapp- token accepted by apps.connections.open (Socket Mode). */
  appToken?: string;
}): Promise<FakeSlack> {
  const botUserId = options.botUserId ?? 'UQUICKREAD';
  const calls: FakeSlackCall[] = [];
  const fileRequests: FakeFileRequest[] = [];
  const uploads: FakeSlack['uploads'] = [];
  const files = new Map<string, { file: FakeSlackFile; bytes: Buffer; path: string }>();
  const redirects = new Map<string, string>();
  const rateLimits = new Map<string, number>();
  const refusals: Array<{ method: string; marker: string; error: string }> = [];
  const reactions = new Set<string>();
  const messages = new Map<string, { text: string; blocks: SlackArgs[]; thread_ts?: string }>();
  let blockRefusals: { error: string; count: number } | undefined;
  let messageRefusals: { error: string; count: number } | undefined;
  let tsCounter = 0;
  let fileCounter = 0;
  let origin = '';

  const nextTs = () => {
    tsCounter += 1;
    return `${1_800_000_000 + tsCounter}.${String(tsCounter).padStart(6, '0')}`;
  };
  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(body));
  };

  /** The refusal a chat.postMessage / chat.update gets, as Slack would send it, or undefined. */
  function refusal(args: SlackArgs): string | undefined {
    if (messageRefusals && messageRefusals.count > 0) {
      messageRefusals.count -= 1;
      return messageRefusals.error;
    }
    const hasBlocks = Array.isArray(args.blocks) && args.blocks.length > 0;
    if (hasBlocks && blockRefusals && blockRefusals.count > 0) {
      blockRefusals.count -= 1;
      return blockRefusals.error;
    }
    if (typeof args.text === 'string' && args.text.length > 40_000) return 'msg_too_long';
    return blocksRefusal(args.blocks);
  }

  function answer(method: string, args: SlackArgs): Record<string, unknown> {
    if (method === 'chat.postMessage' || method === 'chat.update') {
      const refused = refusal(args);
      if (refused) return { ok: false, error: refused };
    }
    switch (method) {
      case 'auth.test':
        return {
          ok: true,
          url: 'https://fake.slack.test/',
          team: 'Fake',
          user: 'quickread',
          team_id: 'T0FAKE',
          user_id: botUserId,
          bot_id: 'B0FAKE',
        };
      case 'chat.postMessage': {
        const ts = nextTs();
        messages.set(ts, { text: args.text, blocks: args.blocks ?? [], thread_ts: args.thread_ts });
        return {
          ok: true,
          channel: args.channel,
          ts,
          message: { ts, text: args.text, blocks: args.blocks, thread_ts: args.thread_ts },
        };
      }
      case 'chat.update':
        {
          const before = messages.get(String(args.ts));
          // chat.update keeps the message's blocks unless the call names new ones (an empty list clears them).
          messages.set(String(args.ts), {
            ...(before ?? {}),
            text: args.text,
            blocks: args.blocks ?? before?.blocks ?? [],
          });
        }
        return { ok: true, channel: args.channel, ts: args.ts, text: args.text };
      case 'chat.postEphemeral':
        return { ok: true, message_ts: nextTs() };
      case 'reactions.add': {
        const key = `${args.channel}:${args.timestamp}:${args.name}`;
        if (reactions.has(key)) return { ok: false, error: 'already_reacted' };
        reactions.add(key);
        return { ok: true };
      }
      case 'files.info': {
        const entry = files.get(String(args.file));
        return entry ? { ok: true, file: entry.file } : { ok: false, error: 'file_not_found' };
      }
      case 'files.getUploadURLExternal': {
        fileCounter += 1;
        const id = `FUP${fileCounter}`;
        return { ok: true, upload_url: `${origin}/upload/v1/${id}`, file_id: id };
      }
      case 'files.completeUploadExternal':
        return {
          ok: true,
          files: (args.files ?? []).map((f: { id: string; title?: string }) => ({
            id: f.id,
            title: f.title,
          })),
        };
      case 'conversations.open':
        // The IM channel with one user (a direct page, issue 19).
        return { ok: true, channel: { id: `D${String(args.users)}` } };
      case 'chat.getPermalink':
        return {
          ok: true,
          channel: args.channel,
          permalink: `https://fake.slack.test/archives/${args.channel}/p${String(args.message_ts).replace('.', '')}`,
        };
      case 'views.open':
        return { ok: true, view: { id: 'V0FAKE' } };
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const authorization = req.headers.authorization;
    if (url.pathname.startsWith('/api/') && req.method === 'POST') {
      const method = url.pathname.slice('/api/'.length);
      const args = parseArgs(await readBody(req), req.headers['content-type']);
      calls.push({ method, args, authorization, at: Date.now() });
      const refusal = refusals.findIndex((r) => r.method === method && String(args.text).includes(r.marker));
      if (refusal >= 0) {
        const { error } = refusals.splice(refusal, 1)[0]!;
        return json(res, 200, { ok: false, error });
      }
      const limited = rateLimits.get(method);
      if (limited !== undefined) {
        rateLimits.delete(method);
        calls.at(-1)!.rateLimited = true;
        return json(res, 429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(limited) });
      }
      const token = authorization?.replace(/^Bearer /, '') ?? args.token;
      if (method === 'apps.connections.open') {
        if (!options.appToken || token !== options.appToken)
          return json(res, 200, { ok: false, error: 'invalid_auth' });
        return json(res, 200, { ok: true, url: `${origin.replace('http:', 'ws:')}/link/?ticket=fake` });
      }
      if (token !== options.botToken) return json(res, 200, { ok: false, error: 'invalid_auth' });
      const result = answer(method, args);
      calls.at(-1)!.result = result;
      return json(res, 200, result);
    }
    if (url.pathname.startsWith('/upload/v1/') && req.method === 'POST') {
      uploads.push({ fileId: url.pathname.split('/').pop()!, bytes: await readBody(req), authorization });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`OK - ${uploads.at(-1)!.bytes.length}`);
      return;
    }
    if (req.method === 'GET') {
      fileRequests.push({ path: url.pathname, authorization });
      const redirect = redirects.get(url.pathname);
      if (redirect) {
        res.writeHead(302, { location: redirect });
        res.end();
        return;
      }
      const entry = [...files.values()].find((f) => f.path === url.pathname);
      if (entry && authorization === `Bearer ${options.botToken}`) {
        res.writeHead(200, {
          'content-type': entry.file.mimetype,
          'content-length': String(entry.bytes.length),
        });
        res.end(entry.bytes);
        return;
      }
      // What Slack does for a file URL fetched without a (valid) token: its sign-in page, status 200.
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(loginPage);
      return;
    }
    res.writeHead(404);
    res.end();
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const sockets = new WebSocketServer({ server, path: '/link/' });
  let socket: WebSocket | undefined;
  const acks = new Map<string, (frame: SocketAck) => void>();
  let envelopes = 0;
  sockets.on('connection', (ws) => {
    socket = ws;
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as { envelope_id?: string; payload?: unknown };
      if (frame.envelope_id)
        acks.get(frame.envelope_id)?.({
          envelope_id: frame.envelope_id,
          payload: frame.payload,
          at: Date.now(),
        });
    });
    ws.send(
      JSON.stringify({
        type: 'hello',
        num_connections: 1,
        connection_info: { app_id: 'A0FAKE' },
        debug_info: { host: 'fake' },
      }),
    );
  });

  return {
    apiUrl: `${origin}/api/`,
    origin,
    botUserId,
    calls,
    callsTo: (method) => calls.filter((c) => c.method === method),
    postedTs: (threadTs) =>
      calls
        .filter((c) => c.method === 'chat.postMessage' && c.args.thread_ts === threadTs && c.result?.ok)
        .map((c) => String(c.result!.ts)),
    fileRequests,
    uploads,
    addFile(bytes, fileOptions = {}) {
      fileCounter += 1;
      const id = `F${String(fileCounter).padStart(6, '0')}`;
      const name = fileOptions.name ?? 'scan.png';
      const path = fileOptions.path ?? `/files-pri/T0FAKE-${id}/download/${encodeURIComponent(name)}`;
      const mimetype = fileOptions.mimetype ?? 'image/png';
      const file: FakeSlackFile = {
        id,
        name,
        mimetype,
        filetype: name.split('.').pop() ?? 'png',
        size: bytes.length,
        mode: 'hosted',
        is_external: false,
        url_private: `${origin}${path.replace('/download/', '/')}`,
        url_private_download: `${origin}${path}`,
      };
      files.set(id, { file, bytes, path });
      return file;
    },
    addRedirect: (path, location) => redirects.set(path, location),
    rateLimitOnce: (method, retryAfterSec) => rateLimits.set(method, retryAfterSec),
    refuseOnce: (method, marker, error) => refusals.push({ method, marker, error }),
    refuseBlocks(error, count = 1) {
      blockRefusals = { error, count };
    },
    refuseMessages(error, count = 1) {
      messageRefusals = { error, count };
    },
    message: (ts) => messages.get(ts),
    socketSend(type, payload) {
      if (!socket) return Promise.reject(new Error('fake slack: no Socket Mode connection'));
      envelopes += 1;
      const envelopeId = `env-${envelopes}`;
      const acked = new Promise<SocketAck>((resolve) => acks.set(envelopeId, resolve));
      socket.send(
        JSON.stringify({
          envelope_id: envelopeId,
          type,
          payload,
          accepts_response_payload: type !== 'events_api',
          retry_attempt: 0,
          retry_reason: '',
        }),
      );
      return acked;
    },
    socketConnected: () => socket !== undefined && socket.readyState === 1,
    socketDisconnect(polite) {
      const current = socket;
      if (!current) return;
      socket = undefined;
      if (polite) {
        current.send(
          JSON.stringify({ type: 'disconnect', reason: 'refresh_requested', debug_info: { host: 'fake' } }),
        );
        setTimeout(() => current.close(), 50);
      } else current.terminate();
    },
    async waitFor(predicate, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate()) {
        if (Date.now() > deadline) throw new Error('fake slack: condition not met in time');
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of sockets.clients) client.terminate();
        sockets.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
