import type { ServerResponse } from 'node:http';
import type { OutboundMessage, ReadCard } from '../../src/core/reply.ts';
import { type CardExtras, type MessageView, renderMessage } from './render.ts';

/**
 * The console's chat history and its live subscribers (Server-Sent Events, WHATWG HTML §9.2). History is
 * in memory and bounded: the store keeps the jobs and threads, this only keeps what the page shows.
 */
export interface ConsoleMessage {
  id: string;
  channelId: string;
  /** Root message id; equal to `id` for a top-level message. */
  threadId: string;
  author: { kind: 'user'; name: string } | { kind: 'bot' };
  at: string;
  view: MessageView;
  /** 👀 / ✅ / ⚠️ on the user's message. */
  reaction?: string;
  /** Pseudonymous user id that alone may see it (private notices); absent = everyone. */
  visibleTo?: string;
}

export interface EngineBanner {
  up: boolean;
  queued: number;
  running: number;
  etaSec: number;
  model: string;
  command: string;
}

interface Subscriber {
  res: ServerResponse;
  userId: string;
}

interface CardState {
  card: ReadCard;
  extras: CardExtras;
  voters: Map<string, 'up' | 'down'>;
}

export function createConsoleState(options: { maxPerChannel?: number } = {}) {
  const maxPerChannel = options.maxPerChannel ?? 500;
  const messages = new Map<string, ConsoleMessage>();
  const cards = new Map<string, CardState>();
  const subscribers = new Set<Subscriber>();
  /** Pseudonymous user id → display pseudonym, so a card the core re-renders names its acknowledger. */
  const names = new Map<string, string>();
  let banner: EngineBanner | undefined;

  const visible = (message: ConsoleMessage, userId: string) =>
    message.visibleTo === undefined || message.visibleTo === userId;

  const send = (sub: Subscriber, event: string, data: unknown) => {
    sub.res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };

  const publish = (message: ConsoleMessage) => {
    for (const sub of subscribers) if (visible(message, sub.userId)) send(sub, 'message', message);
  };

  const trim = (channelId: string) => {
    const inChannel = [...messages.values()].filter((m) => m.channelId === channelId);
    for (const old of inChannel.slice(0, Math.max(0, inChannel.length - maxPerChannel))) {
      messages.delete(old.id);
      if (old.view.kind === 'read' && old.view.jobId) cards.delete(old.view.jobId);
    }
  };

  const upsert = (message: ConsoleMessage) => {
    const isNew = !messages.has(message.id);
    messages.set(message.id, message);
    if (isNew) trim(message.channelId);
    publish(message);
    return message;
  };

  return {
    upsert,
    get: (id: string) => messages.get(id),

    rememberName(userId: string, name: string) {
      if (names.size > 10_000) names.clear();
      names.set(userId, name);
    },

    /** Render and store a bot message; read cards remember their card so buttons can re-render them. */
    setBotMessage(
      id: string,
      thread: { channelId: string; threadId: string },
      outbound: OutboundMessage,
      at: string,
      visibleTo?: string,
    ) {
      let extras: CardExtras = {};
      if (outbound.kind === 'read') {
        const previous = cards.get(outbound.card.jobId);
        extras = previous?.extras ?? {};
        const ackBy = outbound.card.acknowledgedBy?.userId;
        if (ackBy && names.has(ackBy)) extras.acknowledgedByName = names.get(ackBy)!;
        cards.set(outbound.card.jobId, {
          card: outbound.card,
          extras,
          voters: previous?.voters ?? new Map(),
        });
      }
      const existing = messages.get(id);
      return upsert({
        id,
        channelId: thread.channelId,
        threadId: thread.threadId,
        author: { kind: 'bot' },
        at: existing?.at ?? at,
        view: renderMessage(outbound, extras),
        ...(visibleTo ? { visibleTo } : existing?.visibleTo ? { visibleTo: existing.visibleTo } : {}),
      });
    },

    /** Change a card's extras (preview, votes, acknowledgement) and re-render every message showing it. */
    updateCard(jobId: string, change: (state: CardState) => void): boolean {
      const state = cards.get(jobId);
      if (!state) return false;
      change(state);
      const up = [...state.voters.values()].filter((v) => v === 'up').length;
      state.extras.votes = { up, down: state.voters.size - up };
      for (const message of messages.values()) {
        if (message.view.kind === 'read' && message.view.jobId === jobId) {
          upsert({ ...message, view: renderMessage({ kind: 'read', card: state.card }, state.extras) });
        }
      }
      return true;
    },

    /** The newest read card in a thread still waiting for its preview. */
    cardAwaitingPreview(channelId: string, threadId: string): string | undefined {
      const inThread = [...messages.values()].filter(
        (m) => m.channelId === channelId && m.threadId === threadId && m.view.kind === 'read',
      );
      for (const message of inThread.reverse()) {
        const jobId = message.view.jobId;
        const extras = cards.get(jobId ?? '')?.extras;
        if (jobId && extras && !extras.previewUrl && !extras.previewSameAsAbove) return jobId;
      }
      return undefined;
    },

    setBanner(next: EngineBanner) {
      const changed = JSON.stringify(next) !== JSON.stringify(banner);
      banner = next;
      if (changed) for (const sub of subscribers) send(sub, 'engine', next);
    },

    subscribe(res: ServerResponse, userId: string, me: { name: string }, channels: readonly string[]) {
      const sub: Subscriber = { res, userId };
      subscribers.add(sub);
      const history = [...messages.values()].filter((m) => visible(m, userId));
      send(sub, 'snapshot', { me, channels, messages: history, engine: banner ?? null });
      res.on('close', () => subscribers.delete(sub));
    },

    /** Keep idle proxies and the browser from dropping the stream (a comment line, ignored by EventSource). */
    heartbeat() {
      for (const sub of subscribers) sub.res.write(': ping\n\n');
    },

    closeAll() {
      for (const sub of subscribers) sub.res.end();
      subscribers.clear();
    },
  };
}

export type ConsoleState = ReturnType<typeof createConsoleState>;
