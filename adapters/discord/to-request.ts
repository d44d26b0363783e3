import {
  type APIAttachment,
  type APIChatInputApplicationCommandInteraction,
  type APIInteraction,
  ApplicationCommandOptionType,
  ChannelType,
  type GatewayMessageCreateDispatchData,
  InteractionType,
} from 'discord.js';
import type { AttachmentRef, InboundRequest, ThreadRef } from '../../src/core/types.ts';

/**
 * Pure mapping from Discord gateway payloads (API v10 shapes, as dispatched by the gateway) to the
 * core's InboundRequest. No I/O: the adapter decides which thread a message belongs to and passes it in.
 */

export const READ_COMMAND = 'read';
export const HELP_COMMAND = 'quickread';

/** Discord's epoch (2015-01-01) for snowflake timestamps ("Reference → Snowflakes"). */
const DISCORD_EPOCH = 1_420_070_400_000n;

export function snowflakeTime(id: string): number {
  try {
    return Number((BigInt(id) >> 22n) + DISCORD_EPOCH);
  } catch {
    return Number.NaN;
  }
}

const THREAD_TYPES: ReadonlySet<number> = new Set([
  ChannelType.AnnouncementThread,
  ChannelType.PublicThread,
  ChannelType.PrivateThread,
]);

export function isThreadType(type: number | undefined): boolean {
  return type !== undefined && THREAD_TYPES.has(type);
}

/** Images and DICOMs (which often have no extension at all); PDFs, videos, text and archives are not. */
// A zip of DICOM files is a series, read as one study (issue 17).
const IMAGE_NAME = /\.(dcm|dicom|dic|ima|png|jpe?g|webp|tiff?|bmp|gif|zip)$/i;
const HAS_EXTENSION = /\.[a-z0-9]{1,5}$/i;

export function isLikelyImage(attachment: Pick<APIAttachment, 'filename' | 'content_type'>): boolean {
  const type = attachment.content_type?.split(';')[0]?.trim().toLowerCase();
  if (type?.startsWith('image/') || type === 'application/dicom' || type === 'application/zip') return true;
  if (IMAGE_NAME.test(attachment.filename)) return true;
  if (type === undefined || type === 'application/octet-stream')
    return !HAS_EXTENSION.test(attachment.filename);
  return false;
}

export function toAttachmentRef(attachment: APIAttachment): AttachmentRef {
  const ref: AttachmentRef = {
    platform: 'discord',
    fileId: attachment.id,
    url: attachment.url,
    name: attachment.filename,
    sizeBytes: attachment.size,
  };
  if (attachment.content_type) ref.mimeType = attachment.content_type;
  return ref;
}

export function mentionsUser(
  message: Pick<GatewayMessageCreateDispatchData, 'mentions' | 'content'>,
  userId: string,
): boolean {
  if (message.mentions.some((user) => user.id === userId)) return true;
  return message.content.includes(`<@${userId}>`) || message.content.includes(`<@!${userId}>`);
}

/** The question is the message text without the bot's own mention. */
export function questionFrom(content: string, botUserId: string): string {
  return content
    .replaceAll(`<@${botUserId}>`, ' ')
    .replaceAll(`<@!${botUserId}>`, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

export function messageKey(channelId: string, messageId: string): string {
  return `discord:${channelId}:${messageId}`;
}

export function messageToRequest(
  message: GatewayMessageCreateDispatchData,
  thread: ThreadRef,
  botUserId: string,
  receivedAt: string,
): InboundRequest {
  return {
    eventId: message.id,
    messageKey: messageKey(message.channel_id, message.id),
    platform: 'discord',
    thread,
    userId: message.author.id,
    question: questionFrom(message.content, botUserId),
    attachments: message.attachments.filter(isLikelyImage).map(toAttachmentRef),
    receivedAt,
    platformData: {
      messageId: message.id,
      channelId: message.channel_id,
      ...(message.guild_id ? { guildId: message.guild_id } : {}),
    },
  };
}

/**
 * A /read conversation has no user message to thread on, so its thread id first names the interaction
 * and the channel it came from: `i:<interaction id>:<channel id>` (a fallback post still finds the
 * channel). In a guild text channel the adapter then re-keys it to the thread it starts on the
 * command's response (read-thread.ts); in DMs and inside threads it stays as it is.
 */
export function interactionThreadId(interactionId: string, channelId: string): string {
  return `i:${interactionId}:${channelId}`;
}

export function parseInteractionThreadId(
  threadId: string,
): { interactionId: string; channelId: string } | undefined {
  const match = /^i:(\d+):(\d+)$/.exec(threadId);
  return match ? { interactionId: match[1]!, channelId: match[2]! } : undefined;
}

export function interactionUserId(interaction: APIInteraction): string | undefined {
  return interaction.member?.user.id ?? interaction.user?.id;
}

export function isReadCommand(
  interaction: APIInteraction,
): interaction is APIChatInputApplicationCommandInteraction {
  return interaction.type === InteractionType.ApplicationCommand && interaction.data.name === READ_COMMAND;
}

export function isHelpCommand(interaction: APIInteraction): boolean {
  return interaction.type === InteractionType.ApplicationCommand && interaction.data.name === HELP_COMMAND;
}

/** `/read image:<attachment> question:<text>` → InboundRequest; the attachment comes from data.resolved. */
export function interactionToRequest(
  interaction: APIChatInputApplicationCommandInteraction,
  receivedAt: string,
): InboundRequest | undefined {
  const userId = interactionUserId(interaction);
  const channelId = interaction.channel?.id ?? interaction.channel_id;
  if (!userId || !channelId) return undefined;
  const options = interaction.data.options ?? [];
  let question = '';
  const attachments: AttachmentRef[] = [];
  for (const option of options) {
    if (option.type === ApplicationCommandOptionType.String && option.name === 'question')
      question = option.value;
    if (option.type === ApplicationCommandOptionType.Attachment) {
      const attachment = interaction.data.resolved?.attachments?.[option.value];
      if (attachment) attachments.push(toAttachmentRef(attachment));
    }
  }
  // ALLOWED_CHANNELS and STAT_CHANNELS name channels, so a command used inside a thread counts as its parent's.
  const parentId =
    interaction.channel && isThreadType(interaction.channel.type) && 'parent_id' in interaction.channel
      ? (interaction.channel.parent_id ?? undefined)
      : undefined;
  return {
    eventId: interaction.id,
    messageKey: `discord:interaction:${interaction.id}`,
    platform: 'discord',
    thread: { channelId: parentId ?? channelId, threadId: interactionThreadId(interaction.id, channelId) },
    userId,
    question: question.trim(),
    attachments,
    receivedAt,
    platformData: {
      interactionId: interaction.id,
      interactionToken: interaction.token,
      applicationId: interaction.application_id,
      channelId,
    },
  };
}

/** `nc`: "Not critical" on a critical-result page (issue 19). */
export type ButtonAction = { action: 'ack' | 'nc' | 'up' | 'down'; jobId: string };

export function parseCustomId(customId: string): ButtonAction | undefined {
  const match = /^qr:(ack|nc|up|down):(.+)$/.exec(customId);
  if (!match) return undefined;
  return { action: match[1] as ButtonAction['action'], jobId: match[2]! };
}
