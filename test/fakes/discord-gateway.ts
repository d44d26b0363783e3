import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';

/**
 * A loopback Discord gateway (v10, JSON encoding, no compression — discord.js asks for zlib-stream
 * only when the optional zlib-sync package is installed). It speaks the documented handshake
 * ("Events → Gateway"): HELLO (op 10) with heartbeat_interval → IDENTIFY (op 2) → READY dispatch
 * (op 0, with session_id and resume_gateway_url) → GUILD_CREATE per guild; HEARTBEAT (op 1) is
 * answered with HEARTBEAT_ACK (op 11); RESUME (op 6) replays the dispatches after the client's
 * sequence number and ends with RESUMED. Dispatches carry increasing `s`.
 */

export interface FakeGatewayOptions {
  token: string;
  user: { id: string; username: string };
  applicationId: string;
  guilds?: FakeGuild[];
  heartbeatIntervalMs?: number;
}

export interface FakeGuild {
  id: string;
  name: string;
  channels: { id: string; type: number; name: string; parent_id?: string }[];
}

export interface GatewayFrame {
  op: number;
  // biome-ignore lint/suspicious/noExplicitAny: any gateway payload
  d: any;
  s?: number | null;
  t?: string | null;
}

export interface FakeGateway {
  url: string;
  /** Query strings of every connection (v, encoding, compress). */
  connections: URLSearchParams[];
  identifies: GatewayFrame[];
  resumes: GatewayFrame[];
  heartbeats: number;
  /** Resolves when a client has identified and received READY (and its GUILD_CREATEs). */
  ready(): Promise<void>;
  /** Send a dispatch (op 0) with the next sequence number; returns that number. */
  dispatch(t: string, d: unknown): number;
  /**
   * Drop the connection with a resumable close code (4000 Unknown error). When `replayFrom` is given,
   * the RESUME answer replays every dispatch after that sequence number even if the client saw it —
   * the at-least-once delivery a resume can produce.
   */
  disconnect(options?: { replayFrom?: number }): Promise<void>;
  /** Resolves after the next RESUMED was sent. */
  resumed(): Promise<void>;
  close(): Promise<void>;
}

export async function startFakeGateway(options: FakeGatewayOptions): Promise<FakeGateway> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  const sessionId = randomUUID().replaceAll('-', '');
  const history: GatewayFrame[] = [];
  const connections: URLSearchParams[] = [];
  const identifies: GatewayFrame[] = [];
  const resumes: GatewayFrame[] = [];
  let seq = 0;
  let current: WebSocket | undefined;
  let forcedReplayFrom: number | undefined;
  let readyWaiters: (() => void)[] = [];
  let resumedWaiters: (() => void)[] = [];
  let isReady = false;
  const state = { heartbeats: 0 };

  function sendFrame(socket: WebSocket | undefined, frame: GatewayFrame): void {
    if (socket && socket.readyState === socket.OPEN) socket.send(JSON.stringify(frame));
  }

  function dispatch(t: string, d: unknown): number {
    seq += 1;
    const frame: GatewayFrame = { op: 0, t, s: seq, d };
    history.push(frame);
    sendFrame(current, frame);
    return seq;
  }

  function guildCreate(guild: FakeGuild) {
    return {
      id: guild.id,
      name: guild.name,
      icon: null,
      owner_id: '1',
      afk_timeout: 300,
      verification_level: 0,
      default_message_notifications: 0,
      explicit_content_filter: 0,
      roles: [],
      emojis: [],
      stickers: [],
      features: [],
      mfa_level: 0,
      system_channel_flags: 0,
      premium_tier: 0,
      preferred_locale: 'en-US',
      nsfw_level: 0,
      premium_progress_bar_enabled: false,
      joined_at: new Date().toISOString(),
      large: false,
      unavailable: false,
      member_count: 2,
      voice_states: [],
      members: [],
      channels: guild.channels
        .filter((channel) => channel.parent_id === undefined)
        .map((channel) => ({ ...channel, guild_id: guild.id, position: 0, permission_overwrites: [] })),
      threads: guild.channels
        .filter((channel) => channel.parent_id !== undefined)
        .map((channel) => ({ ...channel, guild_id: guild.id })),
      presences: [],
      stage_instances: [],
      guild_scheduled_events: [],
      soundboard_sounds: [],
    };
  }

  wss.on('connection', (socket, request) => {
    connections.push(new URL(request.url ?? '/', url).searchParams);
    current = socket;
    sendFrame(socket, {
      op: 10,
      d: { heartbeat_interval: options.heartbeatIntervalMs ?? 41_250 },
      s: null,
      t: null,
    });
    socket.on('message', (raw) => {
      const frame = JSON.parse(String(raw)) as GatewayFrame;
      if (frame.op === 1) {
        state.heartbeats += 1;
        sendFrame(socket, { op: 11, d: null, s: null, t: null });
        return;
      }
      if (frame.op === 2) {
        identifies.push(frame);
        if (frame.d?.token !== options.token) {
          socket.close(4004, 'Authentication failed.');
          return;
        }
        const guilds = options.guilds ?? [];
        dispatch('READY', {
          v: 10,
          user: {
            ...options.user,
            bot: true,
            discriminator: '0',
            avatar: null,
            global_name: options.user.username,
          },
          guilds: guilds.map((guild) => ({ id: guild.id, unavailable: true })),
          session_id: sessionId,
          resume_gateway_url: url,
          shard: [0, 1],
          application: { id: options.applicationId, flags: 0 },
        });
        for (const guild of guilds) dispatch('GUILD_CREATE', guildCreate(guild));
        isReady = true;
        for (const resolve of readyWaiters) resolve();
        readyWaiters = [];
        return;
      }
      if (frame.op === 6) {
        resumes.push(frame);
        if (frame.d?.token !== options.token || frame.d?.session_id !== sessionId) {
          sendFrame(socket, { op: 9, d: false, s: null, t: null });
          return;
        }
        const from = Math.min(Number(frame.d.seq ?? 0), forcedReplayFrom ?? Number.POSITIVE_INFINITY);
        forcedReplayFrom = undefined;
        for (const missed of history.filter((item) => (item.s ?? 0) > from)) sendFrame(socket, missed);
        dispatch('RESUMED', null);
        for (const resolve of resumedWaiters) resolve();
        resumedWaiters = [];
      }
    });
  });

  return {
    url,
    connections,
    identifies,
    resumes,
    get heartbeats() {
      return state.heartbeats;
    },
    ready: () => (isReady ? Promise.resolve() : new Promise<void>((resolve) => readyWaiters.push(resolve))),
    dispatch,
    async disconnect(disconnectOptions) {
      forcedReplayFrom = disconnectOptions?.replayFrom;
      const socket = current;
      current = undefined;
      if (!socket) return;
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.close(4000, 'Unknown error');
      });
    },
    resumed: () => new Promise<void>((resolve) => resumedWaiters.push(resolve)),
    async close() {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
