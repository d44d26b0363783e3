import { randomUUID } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { BotCore, ChatAdapter } from '../../src/core/adapter.ts';
import type { OutboundMessage, PostedRef } from '../../src/core/reply.ts';
import type { AttachmentRef, Platform, ThreadRef } from '../../src/core/types.ts';

export type RecordedOp =
  | { op: 'post'; messageId: string; thread: ThreadRef; message: OutboundMessage }
  | { op: 'update'; messageId: string; thread: ThreadRef; message: OutboundMessage }
  | { op: 'react'; messageId: string; thread: ThreadRef; reaction: string }
  | { op: 'preview'; thread: ThreadRef; bytes: number; caption: string };

export interface RecordingAdapterOptions {
  platform?: Platform;
  /** Append every op to this file (fsynced) so a killed process leaves a faithful record. */
  file?: string;
  /** Bytes for an attachment (default: the file id as UTF-8). */
  download?: (attachment: AttachmentRef, signal: AbortSignal) => Promise<Buffer>;
  /** Called before an op takes effect; may return a promise that never resolves (a pause point). */
  before?: (op: 'post' | 'update' | 'preview', message?: OutboundMessage) => Promise<void> | void;
}

/**
 * A chat adapter that records what a person in the channel would see: posts, edits, reactions and
 * previews. `visible()` folds the record into the final content of each message.
 */
export function createRecordingAdapter(options: RecordingAdapterOptions = {}) {
  const ops: RecordedOp[] = [];
  const fd = options.file ? openSync(options.file, 'a') : undefined;
  const record = (op: RecordedOp) => {
    ops.push(op);
    if (fd !== undefined) {
      writeSync(fd, `${JSON.stringify(op)}\n`);
      fsyncSync(fd);
    }
  };
  let core: BotCore | undefined;
  const adapter: ChatAdapter & {
    ops: RecordedOp[];
    core(): BotCore | undefined;
    close(): void;
  } = {
    platform: options.platform ?? 'console',
    ops,
    core: () => core,
    close() {
      if (fd !== undefined) closeSync(fd);
    },
    async start(bot) {
      core = bot;
    },
    async stop() {},
    async download(attachment, signal) {
      if (options.download) return options.download(attachment, signal);
      return Buffer.from(attachment.fileId);
    },
    async post(thread, message): Promise<PostedRef> {
      await options.before?.('post', message);
      const messageId = randomUUID();
      record({ op: 'post', messageId, thread, message });
      return { thread, messageId };
    },
    async update(ref, message) {
      await options.before?.('update', message);
      record({ op: 'update', messageId: ref.messageId, thread: ref.thread, message });
    },
    async react(thread, messageId, reaction) {
      record({ op: 'react', messageId, thread, reaction });
    },
    async uploadPreview(thread, png, caption) {
      await options.before?.('preview');
      record({ op: 'preview', thread, bytes: png.byteLength, caption });
    },
  };
  return adapter;
}

/** Final content of every message the bot posted, in posting order. */
export function visibleMessages(
  ops: RecordedOp[],
): Array<{ messageId: string; thread: ThreadRef; message: OutboundMessage }> {
  const messages = new Map<string, { messageId: string; thread: ThreadRef; message: OutboundMessage }>();
  for (const op of ops) {
    if (op.op === 'post')
      messages.set(op.messageId, { messageId: op.messageId, thread: op.thread, message: op.message });
    if (op.op === 'update') {
      const existing = messages.get(op.messageId);
      if (existing) existing.message = op.message;
    }
  }
  return [...messages.values()];
}

export function readRecordedOps(file: string): RecordedOp[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as RecordedOp);
}
