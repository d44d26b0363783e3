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
}

export type HandleOutcome =
  | { kind: 'accepted'; jobId: string; position: number; etaSec: number }
  | { kind: 'followup'; jobId: string; position: number; etaSec: number }
  | { kind: 'duplicate'; jobId?: string }
  | { kind: 'ignored'; reason: 'not-for-bot' | 'no-image' }
  | { kind: 'refused'; code: string; text: string };

export interface QueueSnapshot {
  queued: number;
  running: number;
  engineUp: boolean;
  etaSec: number;
  model: string;
  promptVersion: string;
}

/** What adapters call. Implemented in src/core/bot.ts. */
export interface BotCore {
  /**
   * Persist the request as a job (deduped by event id and message key) and return at once: the
   * adapter acks the platform after this resolves, before any download or decode happens.
   */
  handle(request: InboundRequest): Promise<HandleOutcome>;
  /** Is this thread one the bot is reading (so a plain message in it is a follow-up)? */
  isActiveThread(platform: Platform, thread: ThreadRef): Promise<boolean>;
  acknowledge(jobId: string, userId: string): Promise<{ at: string } | undefined>;
  feedback(jobId: string, userId: string, vote: 'up' | 'down'): Promise<void>;
  cancel(jobId: string, userId: string): Promise<boolean>;
  queueStatus(): QueueSnapshot;
  /** Help text, queue status and model card, already worded for users. */
  helpText(platform: Platform): OutboundMessage;
}
