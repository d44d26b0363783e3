import type { webApi } from '@slack/bolt';
import type { OutboundMessage, PostedRef } from '../../src/core/reply.ts';
import type { ThreadRef } from '../../src/core/types.ts';
import { AppError } from '../../src/errors.ts';
import type { Logger } from '../../src/log.ts';
import { type SlackSend, sendFollowUps, sendReadHead } from './deliver-read.ts';
import type { ChannelPacer } from './pacing.ts';
import { previewCaption, renderMessage, type SlackRendered } from './render.ts';

/**
 * Everything quickread sends to Slack. Posts and edits are paced per channel; the WebClient retries
 * 429s after Retry-After (rejectRateLimitedCalls: false), so a rate-limited post is delayed, not lost.
 */

type WebClient = webApi.WebClient;

const reactionNames = { received: 'eyes', done: 'white_check_mark', failed: 'warning' } as const;

/** Link unfurling off: nothing in a read should pull a preview of an outside page into the channel. */
const quiet = { unfurl_links: false, unfurl_media: false, link_names: false } as const;

/** The core may hand back a message key (`slack:C:ts`) where a ts is expected; accept both. */
export function tsOf(messageId: string): string {
  const match = /^slack:[^:]+:(\d+\.\d+)$/.exec(messageId);
  return match ? match[1]! : messageId;
}

export interface OutboundOptions {
  client: WebClient;
  pacer: ChannelPacer;
  fetch: typeof fetch;
  logger: Logger;
  /** Origins the upload URL from files.getUploadURLExternal may point at (SLACK_FILE_HOSTS + API origin). */
  uploadOrigins: readonly string[];
}

export function createOutbound(options: OutboundOptions) {
  const { client, pacer } = options;

  /** A message in the thread (urgent: a read's continuations go ahead of queued status edits). */
  const postIn =
    (thread: ThreadRef, urgent = false): SlackSend =>
    async (rendered: SlackRendered) => {
      const result = await pacer.schedule(
        thread.channelId,
        () =>
          client.chat.postMessage({
            channel: thread.channelId,
            thread_ts: thread.threadId,
            text: rendered.text,
            blocks: rendered.blocks,
            ...quiet,
          }),
        urgent,
      );
      return result.ts;
    };

  async function post(thread: ThreadRef, message: OutboundMessage): Promise<PostedRef> {
    let ts: string | undefined;
    if (message.kind === 'read') {
      const head = await sendReadHead(message.card, postIn(thread), options.logger);
      ts = head.ts;
      await sendFollowUps(head.followUps, postIn(thread, true), options.logger);
    } else {
      ts = await postIn(thread)(renderMessage(message));
    }
    if (!ts) throw new AppError('INTERNAL', 'chat.postMessage returned no ts');
    return { thread, messageId: ts };
  }

  /** Continuations are posted once per read message: an acknowledgement re-renders only the head. */
  const continued = new Set<string>();

  /**
   * Edits of one message are coalesced: while an edit waits in the channel's queue, a newer one only
   * replaces its content, so a busy channel never sends stale "queued #k" edits one per second ahead
   * of the read. A finished read or an error jumps the channel's queue of status edits.
   */
  const latest = new Map<string, OutboundMessage>();
  const queued = new Map<string, Promise<void>>();
  async function update(ref: PostedRef, message: OutboundMessage): Promise<void> {
    latest.set(ref.messageId, message);
    const waiting = queued.get(ref.messageId);
    const urgent = message.kind !== 'status';
    if (waiting && !urgent) return waiting;
    const edit: SlackSend = async (rendered) => {
      await client.chat.update({
        channel: ref.thread.channelId,
        ts: tsOf(ref.messageId),
        text: rendered.text,
        // An empty list clears the old blocks (the text-only fallback); leaving it out would keep them.
        blocks: rendered.blocks,
        link_names: false,
      });
      return tsOf(ref.messageId);
    };
    const send = pacer
      .schedule(
        ref.thread.channelId,
        async (): Promise<SlackRendered[]> => {
          if (queued.get(ref.messageId) === send) queued.delete(ref.messageId);
          const current = latest.get(ref.messageId);
          // A later edit of this message already went out (a read jumps the queue): nothing to send.
          if (!current) return [];
          latest.delete(ref.messageId);
          if (current.kind !== 'read') {
            await edit(renderMessage(current));
            return [];
          }
          const head = await sendReadHead(current.card, edit, options.logger);
          const first = !continued.has(ref.messageId) && !current.card.acknowledgedBy;
          continued.add(ref.messageId);
          // Only recent reads are acknowledged; keep the set from growing for the process's life.
          if (continued.size > 1000) continued.delete(continued.values().next().value!);
          return first ? head.followUps : [];
        },
        urgent,
      )
      // Outside the channel's slot: the continuations take their own turns in the same queue.
      .then((followUps) => sendFollowUps(followUps, postIn(ref.thread, true), options.logger));
    queued.set(ref.messageId, send);
    return send;
  }

  async function react(
    thread: ThreadRef,
    messageId: string,
    reaction: keyof typeof reactionNames,
  ): Promise<void> {
    try {
      await client.reactions.add({
        channel: thread.channelId,
        timestamp: tsOf(messageId),
        name: reactionNames[reaction],
      });
    } catch (error) {
      // A retried delivery reacts twice; Slack answers already_reacted, which is success for us.
      if ((error as { data?: { error?: string } }).data?.error !== 'already_reacted') throw error;
    }
  }

  async function notifyPrivately(thread: ThreadRef, userId: string, message: OutboundMessage): Promise<void> {
    const rendered = renderMessage(message);
    await pacer.schedule(thread.channelId, () =>
      client.chat.postEphemeral({
        channel: thread.channelId,
        user: userId,
        thread_ts: thread.threadId,
        text: rendered.text,
        blocks: rendered.blocks,
        link_names: false,
      }),
    );
  }

  /**
   * Files upload v2 (https://docs.slack.dev/messaging/working-with-files#uploading_files): get an upload
   * URL, POST the bytes there, complete into the thread. The bytes are POSTed without the bot token —
   * the upload URL is pre-authorised — and only to an allowed origin.
   */
  async function uploadPreview(thread: ThreadRef, png: Buffer, caption: string): Promise<void> {
    const title = 'quickread preview — de-identified, NOT FOR DIAGNOSTIC USE';
    const started = await client.files.getUploadURLExternal({
      filename: 'quickread-preview.png',
      length: png.length,
      alt_text: 'De-identified preview of the image the model read; not for diagnostic use',
    });
    if (!started.upload_url || !started.file_id)
      throw new AppError('INTERNAL', 'getUploadURLExternal gave no URL');
    const origin = new URL(started.upload_url).origin;
    if (!options.uploadOrigins.includes(origin)) {
      throw new AppError('DOWNLOAD_FORBIDDEN_HOST', 'upload URL outside the allowed Slack origins', {
        details: { origin },
      });
    }
    const uploaded = await options.fetch(started.upload_url, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: new Uint8Array(png),
    });
    await uploaded.body?.cancel();
    if (uploaded.status !== 200) throw new AppError('INTERNAL', `preview upload answered ${uploaded.status}`);
    const fileId = started.file_id;
    await pacer.schedule(thread.channelId, () =>
      client.files.completeUploadExternal({
        files: [{ id: fileId, title }],
        channel_id: thread.channelId,
        thread_ts: thread.threadId,
        initial_comment: previewCaption(caption),
      }),
    );
  }

  /**
   * A critical-result page in a DM (issue 19): conversations.open gives the IM channel with the user
   * (https://docs.slack.dev/reference/methods/conversations.open), then chat.postMessage into it.
   * Slack has no idempotency key; the escalation records each DM as sent right after this returns.
   */
  async function messageDirectly(userId: string, message: OutboundMessage): Promise<void> {
    const opened = await client.conversations.open({ users: userId });
    const channel = opened.channel?.id;
    if (!channel) throw new AppError('CHAT_API_FAILED', 'conversations.open returned no channel');
    const rendered = renderMessage(message);
    await pacer.schedule(channel, () =>
      client.chat.postMessage({ channel, text: rendered.text, blocks: rendered.blocks, ...quiet }),
    );
  }

  /** A message at the top of the channel, outside the read's thread (a page's last step). */
  async function postInChannel(channelId: string, message: OutboundMessage): Promise<PostedRef> {
    const rendered = renderMessage(message);
    const result = await pacer.schedule(channelId, () =>
      client.chat.postMessage({ channel: channelId, text: rendered.text, blocks: rendered.blocks, ...quiet }),
    );
    if (!result.ts) throw new AppError('INTERNAL', 'chat.postMessage returned no ts');
    return { thread: { channelId, threadId: result.ts }, messageId: result.ts };
  }

  /** chat.getPermalink (https://docs.slack.dev/reference/methods/chat.getPermalink) of the read's card. */
  async function linkTo(ref: PostedRef): Promise<string | undefined> {
    const result = await client.chat.getPermalink({
      channel: ref.thread.channelId,
      message_ts: tsOf(ref.messageId),
    });
    return result.permalink;
  }

  return { post, update, react, notifyPrivately, uploadPreview, messageDirectly, postInChannel, linkTo };
}
