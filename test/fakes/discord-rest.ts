import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import busboy from 'busboy';

/**
 * A loopback Discord REST API (v10) for the routes quickread uses, shaped like discord.com/api:
 * GET /gateway/bot, GET /users/@me, channel messages (POST/PATCH/DELETE, JSON or multipart with
 * `payload_json` + `files[n]`), reactions, threads from a message, GET /channels/{id}, DMs,
 * interaction callbacks, interaction webhooks (GET/PATCH @original, POST follow-ups) and bulk command
 * overwrite. Errors use Discord's body `{message, code}`. Every call is recorded with its headers, so
 * tests can check where the bot token went. `startFakeCdn` serves attachment bytes on its own origin.
 */

export interface RecordedFile {
  field: string;
  filename: string;
  contentType: string;
  bytes: Buffer;
}

export interface RecordedCall {
  method: string;
  /** Decoded path below /api/v10, e.g. /webhooks/APP/TOKEN/messages/@original. */
  path: string;
  /** The path with interaction/webhook tokens replaced by {token}, for matching. */
  route: string;
  query: URLSearchParams;
  headers: Record<string, string | undefined>;
  // biome-ignore lint/suspicious/noExplicitAny: tests inspect arbitrary Discord JSON
  body: any;
  files: RecordedFile[];
}

export interface FakeMessage {
  id: string;
  channel_id: string;
  content: string;
  // biome-ignore lint/suspicious/noExplicitAny: stored as sent
  embeds: any[];
  // biome-ignore lint/suspicious/noExplicitAny: stored as sent
  components: any[];
  attachments: { id: string; filename: string; size: number; url: string; content_type?: string }[];
  author: {
    id: string;
    username: string;
    bot: boolean;
    discriminator: string;
    avatar: null;
    global_name: string;
  };
  // biome-ignore lint/suspicious/noExplicitAny: stored as sent
  allowed_mentions?: any;
  type: number;
  timestamp: string;
  edited_timestamp: string | null;
  mentions: never[];
  mention_roles: never[];
  mention_everyone: boolean;
  pinned: boolean;
  tts: boolean;
  flags: number;
}

export interface FakeChannel {
  id: string;
  type: number;
  guild_id?: string;
  parent_id?: string;
  name?: string;
}

export interface FakeDiscordRestOptions {
  token: string;
  botUser: { id: string; username: string };
  applicationId: string;
  gatewayUrl?: string;
  /** Channels GET /channels/{id} knows besides the threads it creates. */
  channels?: FakeChannel[];
  /** Answer thread creation with 403 Missing Permissions (code 50013). */
  denyThreads?: boolean;
}

export interface FakeDiscordRest {
  /** The value for DISCORD_API_URL (…/api). */
  apiUrl: string;
  calls: RecordedCall[];
  messages: Map<string, FakeMessage>;
  /** 'message' (FakeMessage) and 'thread' (FakeChannel) fire as real Discord would dispatch them. */
  events: EventEmitter;
  setGatewayUrl(url: string): void;
  /** Expire an interaction token: its callbacks and webhooks answer 404 Unknown Webhook (10015). */
  expireToken(token: string): void;
  /** Which channel an interaction token answers in (Discord knows it from the interaction). */
  bindInteraction(token: string, channelId: string): void;
  /** Answer thread creation with 403 Missing Permissions (50013) from now on, or stop doing so. */
  setDenyThreads(deny: boolean): void;
  /** The next call matching method + path prefix gets 429 with `retry_after` (Discord's rate-limit body). */
  rateLimitOnce(method: string, pathPrefix: string, retryAfterSec: number): void;
  /** The DM channel opened with a user (POST /users/@me/channels), if any. */
  dmChannelOf(userId: string): string | undefined;
  close(): Promise<void>;
}

let counter = 0n;
/** A snowflake: ms since the Discord epoch << 22, plus an increment ("Reference → Snowflakes"). */
export function snowflake(at = Date.now()): string {
  counter = (counter + 1n) & 0xfffn;
  return ((BigInt(at - 1_420_070_400_000) << 22n) | counter).toString();
}

function send(res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const text = JSON.stringify(body);
  res
    .writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
    .end(text);
}

async function readBody(req: IncomingMessage): Promise<{ body: unknown; files: RecordedFile[] }> {
  const type = req.headers['content-type'] ?? '';
  if (type.startsWith('multipart/form-data')) {
    return new Promise((resolve, reject) => {
      const files: RecordedFile[] = [];
      let body: unknown;
      const parser = busboy({ headers: req.headers });
      parser.on('file', (field, stream, info) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () =>
          files.push({
            field,
            filename: info.filename ?? '',
            contentType: info.mimeType,
            bytes: Buffer.concat(chunks),
          }),
        );
      });
      parser.on('field', (name, value) => {
        if (name === 'payload_json') body = JSON.parse(value);
      });
      parser.on('close', () => resolve({ body, files }));
      parser.on('error', reject);
      req.pipe(parser);
    });
  }
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return { body: text ? JSON.parse(text) : undefined, files: [] };
}

/**
 * What Discord checks on a message body ("Message Resource → Embed Limits", "Create Message"): content
 * ≤ 2,000, ≤ 10 embeds, title 256, description 4,096, 25 fields, field name 256 / value 1,024, footer
 * 2,048, author 256, and 6,000 characters over all embeds. A breach is 400 Invalid Form Body (50035).
 */
export function discordBodyProblems(body: Record<string, unknown> | undefined): string[] {
  const problems: string[] = [];
  if (!body) return problems;
  if (typeof body.content === 'string' && body.content.length > 2000) problems.push('content');
  type Embed = {
    title?: string;
    description?: string;
    footer?: { text?: string };
    author?: { name?: string };
    fields?: Array<{ name: string; value: string }>;
  };
  const embeds = Array.isArray(body.embeds) ? (body.embeds as Embed[]) : [];
  if (embeds.length > 10) problems.push('embeds');
  let total = 0;
  for (const embed of embeds) {
    const title = String(embed.title ?? '');
    const description = String(embed.description ?? '');
    const footer = String(embed.footer?.text ?? '');
    const author = String(embed.author?.name ?? '');
    if (title.length > 256) problems.push('title');
    if (description.length > 4096) problems.push('description');
    if (footer.length > 2048) problems.push('footer');
    if (author.length > 256) problems.push('author');
    const fields = Array.isArray(embed.fields)
      ? (embed.fields as Array<{ name: string; value: string }>)
      : [];
    if (fields.length > 25) problems.push('fields');
    total += title.length + description.length + footer.length + author.length;
    for (const field of fields) {
      if (field.name.length > 256 || field.name.length === 0) problems.push('field name');
      if (field.value.length > 1024 || field.value.length === 0) problems.push('field value');
      total += field.name.length + field.value.length;
    }
  }
  if (total > 6000) problems.push('embeds total');
  return problems;
}

async function listen(server: Server): Promise<{ port: number; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, sockets };
}

async function shut(server: Server, sockets: Set<Socket>): Promise<void> {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

export async function startFakeDiscordRest(options: FakeDiscordRestOptions): Promise<FakeDiscordRest> {
  const calls: RecordedCall[] = [];
  const messages = new Map<string, FakeMessage>();
  const dmChannels = new Map<string, string>();
  const nonces = new Map<string, string>();
  const channels = new Map<string, FakeChannel>((options.channels ?? []).map((c) => [c.id, c]));
  const events = new EventEmitter();
  const expired = new Set<string>();
  let denyThreads = options.denyThreads ?? false;
  const limits: { method: string; prefix: string; retryAfter: number }[] = [];
  let gatewayUrl = options.gatewayUrl ?? 'ws://127.0.0.1:1';
  const author = {
    ...options.botUser,
    bot: true,
    discriminator: '0',
    avatar: null,
    global_name: options.botUser.username,
  };

  function makeMessage(
    channelId: string,
    body: Record<string, unknown> | undefined,
    files: RecordedFile[],
  ): FakeMessage {
    const id = snowflake();
    const message: FakeMessage = {
      id,
      channel_id: channelId,
      content: typeof body?.content === 'string' ? body.content : '',
      embeds: (body?.embeds as unknown[]) ?? [],
      components: (body?.components as unknown[]) ?? [],
      attachments: files.map((file, i) => ({
        id: snowflake(),
        filename: file.filename,
        size: file.bytes.length,
        url: `https://cdn.discordapp.com/attachments/${channelId}/${i}/${file.filename}`,
        content_type: file.contentType,
      })),
      author,
      allowed_mentions: body?.allowed_mentions,
      type: body?.message_reference ? 19 : 0,
      timestamp: new Date().toISOString(),
      edited_timestamp: null,
      mentions: [],
      mention_roles: [],
      mention_everyone: false,
      pinned: false,
      tts: false,
      flags: typeof body?.flags === 'number' ? body.flags : 0,
    };
    messages.set(id, message);
    events.emit('message', message);
    return message;
  }

  function edit(
    id: string,
    channelId: string,
    body: Record<string, unknown> | undefined,
  ): FakeMessage | undefined {
    const message = messages.get(id);
    if (!message || message.channel_id !== channelId) return undefined;
    for (const key of ['content', 'embeds', 'components', 'allowed_mentions'] as const) {
      // biome-ignore lint/suspicious/noExplicitAny: patch semantics: present keys replace
      if (body && key in body) (message as any)[key] = body[key];
    }
    message.edited_timestamp = new Date().toISOString();
    message.flags &= ~128;
    return message;
  }

  const originals = new Map<string, string>(); // interaction token → @original message id
  const interactionChannels = new Map<string, string>(); // token → channel id (from the callback)

  async function handleCall(call: RecordedCall, res: ServerResponse): Promise<void> {
    const parts = call.path.split('/').filter(Boolean);
    const [a, b, c, d, e, f] = parts;
    const m = call.method;
    const body = call.body as Record<string, unknown> | undefined;
    const auth = call.headers.authorization;
    const limited = limits.findIndex((limit) => limit.method === m && call.path.startsWith(limit.prefix));
    if (limited >= 0) {
      const [limit] = limits.splice(limited, 1);
      // "Topics → Rate Limits": 429 with retry_after (seconds) in the body and Retry-After header.
      res.writeHead(429, {
        'content-type': 'application/json',
        'retry-after': String(Math.ceil(limit!.retryAfter)),
        'x-ratelimit-scope': 'user',
      });
      res.end(
        JSON.stringify({
          message: 'You are being rate limited.',
          retry_after: limit!.retryAfter,
          global: false,
        }),
      );
      return;
    }
    if ((m === 'POST' || m === 'PATCH') && discordBodyProblems(body).length > 0) {
      return send(res, 400, { message: 'Invalid Form Body', code: 50035, errors: {} });
    }
    const needsAuth = !(a === 'interactions' || a === 'webhooks');
    if (needsAuth && auth !== `Bot ${options.token}`)
      return send(res, 401, { message: '401: Unauthorized', code: 0 });

    if (m === 'GET' && a === 'gateway' && b === 'bot') {
      return send(res, 200, {
        url: gatewayUrl,
        shards: 1,
        session_start_limit: { total: 1000, remaining: 999, reset_after: 0, max_concurrency: 1 },
      });
    }
    if (m === 'GET' && a === 'users' && b === '@me') return send(res, 200, author);
    if (m === 'POST' && a === 'users' && b === '@me' && c === 'channels') {
      // Discord answers with the same DM channel every time for one recipient.
      const recipient = String(body?.recipient_id);
      const id = dmChannels.get(recipient) ?? snowflake();
      dmChannels.set(recipient, id);
      const dm = { id, type: 1, recipients: [{ id: recipient }] };
      channels.set(dm.id, { id: dm.id, type: 1 });
      return send(res, 200, dm);
    }
    if (a === 'channels' && b) {
      // A message id is a channel only once a thread was started on it.
      if (messages.has(b) && !channels.has(b))
        return send(res, 404, { message: 'Unknown Channel', code: 10003 });
      if (m === 'GET' && !c) {
        const channel = channels.get(b);
        return channel
          ? send(res, 200, channel)
          : send(res, 404, { message: 'Unknown Channel', code: 10003 });
      }
      if (m === 'POST' && c === 'messages' && !d) {
        // enforce_nonce: a second create with the same nonce returns the first message ("Create Message").
        const nonceKey = body?.enforce_nonce && body?.nonce ? `${b}:${String(body.nonce)}` : undefined;
        const earlier = nonceKey ? messages.get(nonces.get(nonceKey) ?? '') : undefined;
        if (earlier) return send(res, 200, earlier);
        const made = makeMessage(b, body, call.files);
        if (nonceKey) nonces.set(nonceKey, made.id);
        return send(res, 200, made);
      }
      if (c === 'messages' && d && !e) {
        if (m === 'PATCH') {
          const edited = edit(d, b, body);
          return edited
            ? send(res, 200, edited)
            : send(res, 404, { message: 'Unknown Message', code: 10008 });
        }
        if (m === 'DELETE') return send(res, messages.delete(d) ? 204 : 404);
      }
      if (c === 'messages' && d && e === 'reactions' && f) return send(res, 204);
      if (m === 'POST' && c === 'messages' && d && e === 'threads') {
        if (denyThreads) return send(res, 403, { message: 'Missing Permissions', code: 50013 });
        if (channels.has(d))
          return send(res, 400, {
            message: 'A thread has already been created for this message',
            code: 160004,
          });
        // "The created thread and the message it was started from share the same id."
        const parent = channels.get(b);
        const thread: FakeChannel = { id: d, type: 11, parent_id: b, name: String(body?.name ?? '') };
        if (parent?.guild_id) thread.guild_id = parent.guild_id;
        channels.set(d, thread);
        events.emit('thread', thread);
        return send(res, 201, {
          ...thread,
          thread_metadata: { archived: false, auto_archive_duration: 1440, locked: false },
        });
      }
    }
    if (a === 'interactions' && b && c && d === 'callback' && m === 'POST') {
      if (expired.has(c)) return send(res, 404, { message: 'Unknown interaction', code: 10062 });
      if (originals.has(c))
        return send(res, 400, { message: 'Interaction has already been acknowledged.', code: 40060 });
      const channelId = interactionChannels.get(c) ?? snowflake();
      const type = Number(body?.type);
      const original = makeMessage(
        channelId,
        // A deferred response is a real message, flagged LOADING (1 << 7) until it is edited.
        type === 4 ? (body?.data as Record<string, unknown>) : { content: '', flags: 128 },
        call.files,
      );
      originals.set(c, original.id);
      return send(res, 204);
    }
    if (a === 'webhooks' && b && c) {
      if (expired.has(c)) return send(res, 404, { message: 'Unknown Webhook', code: 10015 });
      if (b !== options.applicationId) return send(res, 404, { message: 'Unknown Webhook', code: 10015 });
      if (m === 'POST' && !d) {
        const channelId = interactionChannels.get(c) ?? snowflake();
        return send(res, 200, makeMessage(channelId, body, call.files));
      }
      if (m === 'GET' && d === 'messages' && e) {
        // "Get Original Interaction Response" (or a follow-up by id).
        const id = e === '@original' ? originals.get(c) : e;
        const message = id ? messages.get(id) : undefined;
        if (!message) return send(res, 404, { message: 'Unknown Message', code: 10008 });
        return send(res, 200, message);
      }
      if (m === 'PATCH' && d === 'messages' && e) {
        const id = e === '@original' ? originals.get(c) : e;
        const message = id ? messages.get(id) : undefined;
        if (!message) return send(res, 404, { message: 'Unknown Message', code: 10008 });
        return send(res, 200, edit(message.id, message.channel_id, body));
      }
    }
    if (m === 'PUT' && a === 'applications' && b === options.applicationId && c === 'commands') {
      const list = Array.isArray(call.body) ? call.body : [];
      return send(
        res,
        200,
        list.map((command) => ({ ...command, id: snowflake(), application_id: b, version: '1' })),
      );
    }
    return send(res, 404, { message: '404: Not Found', code: 0 });
  }

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const prefix = '/api/v10';
      if (!url.pathname.startsWith(prefix)) return send(res, 404, { message: '404: Not Found', code: 0 });
      const path = url.pathname
        .slice(prefix.length)
        .split('/')
        .map((segment) => decodeURIComponent(segment))
        .join('/');
      const routeKey = path
        .replace(/^\/interactions\/(\d+)\/[^/]+\//, '/interactions/$1/{token}/')
        .replace(/^\/webhooks\/(\d+)\/[^/]+/, '/webhooks/$1/{token}');
      const { body, files } = await readBody(req);
      const headers: Record<string, string | undefined> = {};
      for (const [key, value] of Object.entries(req.headers))
        headers[key] = Array.isArray(value) ? value.join(',') : value;
      const call: RecordedCall = {
        method: req.method ?? 'GET',
        path,
        route: routeKey,
        query: url.searchParams,
        headers,
        body,
        files,
      };
      calls.push(call);
      await handleCall(call, res);
    })().catch((error: unknown) => send(res, 500, { message: String(error), code: 0 }));
  });
  const { port, sockets } = await listen(server);

  return {
    apiUrl: `http://127.0.0.1:${port}/api`,
    calls,
    messages,
    events,
    setGatewayUrl(url) {
      gatewayUrl = url;
    },
    expireToken(token) {
      expired.add(token);
    },
    bindInteraction(token, channelId) {
      interactionChannels.set(token, channelId);
    },
    setDenyThreads(deny) {
      denyThreads = deny;
    },
    rateLimitOnce(method, pathPrefix, retryAfterSec) {
      limits.push({ method, prefix: pathPrefix, retryAfter: retryAfterSec });
    },
    dmChannelOf: (userId) => dmChannels.get(userId),
    close: () => shut(server, sockets),
  };
}

export interface FakeCdn {
  origin: string;
  /** Serve bytes at a path; returns the full URL (with a signed-URL style query, as Discord's have). */
  add(path: string, bytes: Buffer, contentType?: string): string;
  requests: { path: string; headers: Record<string, string | undefined> }[];
  close(): Promise<void>;
}

/** A CDN on its own origin: GET only, records every request with its headers. */
export async function startFakeCdn(): Promise<FakeCdn> {
  const files = new Map<string, { bytes: Buffer; contentType: string }>();
  const requests: FakeCdn['requests'] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const headers: Record<string, string | undefined> = {};
    for (const [key, value] of Object.entries(req.headers))
      headers[key] = Array.isArray(value) ? value.join(',') : value;
    requests.push({ path: url.pathname, headers });
    const file = files.get(url.pathname);
    if (!file || req.method !== 'GET') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res
      .writeHead(200, { 'content-type': file.contentType, 'content-length': file.bytes.length })
      .end(file.bytes);
  });
  const { port, sockets } = await listen(server);
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    add(path, bytes, contentType = 'application/octet-stream') {
      files.set(path, { bytes, contentType });
      return `${origin}${path}?ex=6a000000&is=69f00000&hm=${'ab'.repeat(32)}&`;
    },
    requests,
    close: () => shut(server, sockets),
  };
}
