import type { OutboundMessage, PostedRef } from './reply.ts';
import type { AttachmentRef, InboundRequest, Platform, ThreadRef } from './types.ts';

/**
 * The seam between the bot core and a chat platform (DESIGN §1, §7: adapter with optional
 * capabilities). Adapters are transport only: verify, ack, download, post. They import core types
 * and nothing else from src/.
 */
export interface ChatAdapter {
  /** Which platform this adapter speaks. */
  readonly platform: Platform;
  /** Optional: where a person reaches this adapter (the console's http URL), known after start(). */
  readonly url?: string;
  /** Connect (Socket Mode, gateway, HTTP listener) and start delivering requests to the core. */
  start(core: BotCore): Promise<void>;
  /** Disconnect and release ports; pending posts are flushed first. */
  stop(): Promise<void>;
  /** Fetch an attachment's bytes, enforcing the platform's host allow-list and size cap. */
  download(attachment: AttachmentRef, signal: AbortSignal): Promise<Buffer>;
  /** Post a new message in the thread; returns its id so it can be edited. */
  post(thread: ThreadRef, message: OutboundMessage): Promise<PostedRef>;
  /** Edit a message posted earlier (status → reading → read). */
  update(ref: PostedRef, message: OutboundMessage): Promise<void>;
  /** Optional: mark the user's message with a reaction (👀 on receipt, ✅ done, ⚠️ failed). */
  react?(thread: ThreadRef, messageId: string, reaction: 'received' | 'done' | 'failed'): Promise<void>;
  /** Optional: upload the de-identified preview the model saw, labelled non-diagnostic. */
  uploadPreview?(thread: ThreadRef, png: Buffer, caption: string): Promise<void>;
  /** Optional: tell one user something privately (ephemeral in Slack, DM elsewhere). */
  notifyPrivately?(thread: ThreadRef, userId: string, message: OutboundMessage): Promise<void>;
  /**
   * Optional: a direct message to one person (a critical-result page, issue 19). `idempotencyKey` is the
   * same on a resend after a restart; platforms that deduplicate (Discord's nonce) use it.
   */
  messageDirectly?(userId: string, message: OutboundMessage, idempotencyKey: string): Promise<void>;
  /** Optional: a new message at the top of a channel, outside any thread (a page's last step). */
  postInChannel?(channelId: string, message: OutboundMessage): Promise<PostedRef>;
  /** Optional: a link a person can open to reach a posted message (the page's "Thread:" link). */
  linkTo?(ref: PostedRef): Promise<string | undefined>;
}

/**
 * What became of a message. `reply`, when present, is what the sender should see now (a refusal, how
 * to attach an image, "already on it"): adapters render it, privately where the platform can.
 * Accepted work is answered later through post/update.
 */
export type HandleOutcome = (
  | { kind: 'accepted'; jobId: string; position: number; etaSec: number }
  | { kind: 'followup'; jobId: string; position: number; etaSec: number }
  | { kind: 'duplicate'; jobId?: string }
  | { kind: 'ignored'; reason: 'not-for-bot' | 'no-image' }
  /** `retryAfterSec`: when the poster may try again (HTTP adapters send it as Retry-After). */
  | { kind: 'refused'; code: string; retryAfterSec?: number }
) & { reply?: OutboundMessage };

/** A button or reaction on a read card, or a withdrawal, by one user. */
export interface CoreAction {
  /** `not-critical`: the false-alarm button next to Acknowledge (acknowledges and records it). */
  kind: 'acknowledge' | 'not-critical' | 'up' | 'down' | 'cancel';
  platform: Platform;
  jobId: string;
  userId: string;
}

/** `done` false means refused or unknown; `reply` is what the presser should see (privately). */
export interface ActionOutcome {
  done: boolean;
  /** When an acknowledgement was recorded (the first one, if it already was). */
  at?: string;
  reply?: OutboundMessage;
}

/** A slash command or its equivalent: help, queue status, the model card. */
export interface CoreCommand {
  kind: 'help' | 'status' | 'model';
  platform: Platform;
  channelId: string;
  userId: string;
}

/** An emoji reaction on a read card: 👍/👎 vote, ✅ acknowledges; anything else is ignored. */
export interface CoreReaction {
  platform: Platform;
  jobId: string;
  userId: string;
  emoji: string;
}

export interface QueueSnapshot {
  queued: number;
  running: number;
  engineUp: boolean;
  etaSec: number;
  model: string;
  promptVersion: string;
}

/**
 * What adapters call (implemented in src/core/bot.ts). Every user-facing outcome comes back as an
 * OutboundMessage: adapters word nothing themselves. Dedupe and allow-lists happen here only.
 */
export interface BotCore {
  /**
   * A chat message (mention, thread reply, DM, menu action, console post). Persisted as a job
   * (deduped by event id and message key) before this resolves: the adapter acks the platform after,
   * before any download or decode happens.
   */
  handle(request: InboundRequest): Promise<HandleOutcome>;
  act(action: CoreAction): Promise<ActionOutcome>;
  react(reaction: CoreReaction): Promise<ActionOutcome | undefined>;
  command(command: CoreCommand): OutboundMessage;
  /** The queue as data (the console's banner draws it). */
  queueStatus(): QueueSnapshot;
}
