import type { AttachmentRef, InboundRequest, ThreadRef } from '../../src/core/types.ts';

/**
 * Pure mappers from Slack payloads to the core's InboundRequest. No I/O, no SDK calls.
 *
 * Payload shapes: Events API `message` / `app_mention` events (https://docs.slack.dev/reference/events/message,
 * .../app_mention) and message-shortcut interaction payloads (type `message_action`). A message that
 * mentions the bot arrives twice — as `app_mention` and as `message` — with different event ids and the
 * same channel + ts, so the message key is built from those two.
 */

/** The subset of a Slack file object quickread reads (https://docs.slack.dev/reference/objects/file-object). */
export interface SlackFile {
  id: string;
  name?: string;
  title?: string;
  mimetype?: string;
  filetype?: string;
  size?: number;
  mode?: string;
  is_external?: boolean;
  url_private?: string;
  url_private_download?: string;
  file_access?: string;
}

export interface SlackMessageEvent {
  type: 'message' | 'app_mention';
  subtype?: string;
  channel: string;
  channel_type?: string;
  user?: string;
  bot_id?: string;
  text?: string;
  ts: string;
  thread_ts?: string;
  files?: SlackFile[];
}

/** Message subtypes that are a person talking; edits, deletions, joins and bot posts are not. */
const humanSubtypes = new Set([undefined, 'file_share', 'thread_broadcast']);

export const messageKeyOf = (channel: string, ts: string): string => `slack:${channel}:${ts}`;

/** The thread a reply belongs in: the message's own thread, or a new thread under the message. */
export function threadOf(channel: string, ts: string, threadTs?: string): ThreadRef {
  return { channelId: channel, threadId: threadTs ?? ts };
}

/** Image-like files only; the core decides what it can decode, this just skips obvious non-images. */
// A zip of DICOM files is a series, read as one study (issue 17).
const imageMime =
  /^(image\/|application\/dicom$|application\/octet-stream$|application\/(x-)?zip(-compressed)?$)/i;
const imageExt = /^(png|jpe?g|webp|tiff?|dcm|dicom|gif|bmp|zip)$/i;

export function isImageFile(file: SlackFile): boolean {
  if (file.mimetype && imageMime.test(file.mimetype)) return true;
  if (file.filetype && imageExt.test(file.filetype)) return true;
  const extension = file.name?.split('.').pop();
  return extension !== undefined && file.name?.includes('.') === true && imageExt.test(extension);
}

export function toAttachments(files: readonly SlackFile[] | undefined): AttachmentRef[] {
  return (files ?? []).filter(isImageFile).map((file) => {
    const ref: AttachmentRef = {
      platform: 'slack',
      fileId: file.id,
      // Slack Connect files arrive with file_access 'check_file_info' and no URL; download resolves them.
      url: file.url_private_download ?? file.url_private ?? '',
      name: file.name ?? file.title ?? 'file',
      external: file.is_external === true || file.mode === 'external',
    };
    if (file.mimetype) ref.mimeType = file.mimetype;
    if (typeof file.size === 'number') ref.sizeBytes = file.size;
    return ref;
  });
}

/** Slack escapes &, < and > in message text; mentions look like <@U123> or <@U123|name>. */
export function cleanQuestion(text: string | undefined, botUserId?: string): string {
  let out = text ?? '';
  if (botUserId) out = out.replace(new RegExp(`<@${botUserId}(\\|[^>]*)?>`, 'g'), ' ');
  return out.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&').replace(/\s+/g, ' ').trim();
}

export const mentionsBot = (text: string | undefined, botUserId: string | undefined): boolean =>
  botUserId !== undefined && botUserId !== '' && (text ?? '').includes(`<@${botUserId}`);

/** How a message event relates to the bot, before any I/O. */
export type MessageTrigger =
  | { kind: 'direct'; reason: 'mention' | 'dm' }
  /** A plain message inside a thread: a follow-up only if the bot is reading that thread. */
  | { kind: 'thread-candidate' }
  | { kind: 'none' };

export function classifyMessage(event: SlackMessageEvent, botUserId: string | undefined): MessageTrigger {
  if (event.bot_id || !event.user || !humanSubtypes.has(event.subtype)) return { kind: 'none' };
  if (botUserId && event.user === botUserId) return { kind: 'none' };
  if (event.type === 'app_mention' || mentionsBot(event.text, botUserId))
    return { kind: 'direct', reason: 'mention' };
  if (event.channel_type === 'im') return { kind: 'direct', reason: 'dm' };
  if (event.thread_ts && event.thread_ts !== event.ts) return { kind: 'thread-candidate' };
  return { kind: 'none' };
}

export interface MapContext {
  eventId: string;
  botUserId?: string;
  receivedAt: string;
}

export function messageToRequest(event: SlackMessageEvent, ctx: MapContext): InboundRequest {
  return {
    eventId: ctx.eventId,
    messageKey: messageKeyOf(event.channel, event.ts),
    platform: 'slack',
    thread: threadOf(event.channel, event.ts, event.thread_ts),
    userId: event.user ?? '',
    question: cleanQuestion(event.text, ctx.botUserId),
    attachments: toAttachments(event.files),
    receivedAt: ctx.receivedAt,
    platformData: { messageId: event.ts, channelType: event.channel_type ?? 'channel' },
  };
}

/** Message shortcut payload (type `message_action`), the parts quickread reads. */
export interface SlackMessageShortcut {
  type: 'message_action';
  callback_id: string;
  trigger_id: string;
  user: { id: string };
  channel: { id: string };
  message: { ts: string; thread_ts?: string; user?: string; text?: string; files?: SlackFile[] };
}

export function shortcutToRequest(
  payload: SlackMessageShortcut,
  ctx: Omit<MapContext, 'eventId'>,
): InboundRequest {
  const { message } = payload;
  return {
    eventId: `shortcut:${payload.trigger_id}`,
    messageKey: messageKeyOf(payload.channel.id, message.ts),
    platform: 'slack',
    thread: threadOf(payload.channel.id, message.ts, message.thread_ts),
    // The person who asked for the read, not the poster of the scan: refusals and acks go to them.
    userId: payload.user.id,
    question: cleanQuestion(message.text, ctx.botUserId),
    attachments: toAttachments(message.files),
    receivedAt: ctx.receivedAt,
    platformData: { messageId: message.ts, via: 'shortcut' },
  };
}

export type SlashAction = 'help' | 'status' | 'model';

/** `/quickread [help|status|model]`; anything else gets help. */
export function parseSlashText(text: string | undefined): SlashAction {
  const word = (text ?? '').trim().toLowerCase().split(/\s+/)[0] ?? '';
  if (word === 'status' || word === 'queue') return 'status';
  if (word === 'model' || word === 'card' || word === 'model-card') return 'model';
  return 'help';
}
