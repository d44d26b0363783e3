import type { AttachmentRef, InboundRequest } from '../../src/core/types.ts';
import type { TeamsActivity, TeamsAttachment } from './activity.ts';
import { threadOfActivity } from './activity.ts';
import { connectorFileId, downloadFileId } from './download.ts';
import { originOf } from './hosts.ts';

/**
 * Pure mapping from a Teams message activity to the core's InboundRequest. Nothing here is logged:
 * text and file names may hold PHI.
 */

/** https://learn.microsoft.com/microsoftteams/platform/bots/how-to/bots-filesv4#receive-files-in-personal-chat */
export const FILE_DOWNLOAD_INFO = 'application/vnd.microsoft.teams.file.download.info';

export function mentionsBot(activity: TeamsActivity): boolean {
  const botId = activity.recipient?.id;
  return Boolean(
    botId && activity.entities?.some((entity) => entity.type === 'mention' && entity.mentioned?.id === botId),
  );
}

/** The message text without `<at>…</at>` mentions or the HTML Teams wraps channel messages in. */
export function plainText(text: string | undefined): string {
  return (text ?? '')
    .replace(/<at>[^<]*<\/at>/gi, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&nbsp;/g, ' ')
    .replace(/&amp;/g, '&')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/\s+/g, ' ')
    .trim();
}

function toAttachment(
  attachment: TeamsAttachment,
  index: number,
  serviceUrl: string,
): AttachmentRef | undefined {
  const type = attachment.contentType ?? '';
  if (type === FILE_DOWNLOAD_INFO) {
    const content = (attachment.content ?? {}) as {
      downloadUrl?: unknown;
      uniqueId?: unknown;
      fileType?: unknown;
    };
    if (typeof content.downloadUrl !== 'string') return undefined;
    return {
      platform: 'teams',
      fileId: downloadFileId(typeof content.uniqueId === 'string' ? content.uniqueId : String(index)),
      url: content.downloadUrl,
      name: attachment.name ?? 'file',
    };
  }
  // Inline pasted images: image/* (Teams also sends `image/*` literally) under {serviceUrl}/v3/attachments/.
  if (type.startsWith('image/') && attachment.contentUrl) {
    const origin = originOf(serviceUrl) ?? '';
    const id = /\/v3\/attachments\/([^/]+)/.exec(attachment.contentUrl)?.[1] ?? String(index);
    return {
      platform: 'teams',
      fileId: connectorFileId(origin, id),
      url: attachment.contentUrl,
      name: attachment.name ?? 'image',
      ...(type !== 'image/*' ? { mimeType: type } : {}),
    };
  }
  return undefined;
}

export function activityToRequest(activity: TeamsActivity, receivedAt: string): InboundRequest | undefined {
  const thread = threadOfActivity(activity);
  const userId = activity.from?.aadObjectId ?? activity.from?.id;
  if (!thread || !userId || !activity.id || !activity.serviceUrl) return undefined;
  const attachments = (activity.attachments ?? [])
    .map((attachment, index) => toAttachment(attachment, index, activity.serviceUrl!))
    .filter((attachment): attachment is AttachmentRef => attachment !== undefined);
  return {
    eventId: activity.id,
    messageKey: `teams:${thread.channelId}:${activity.id}`,
    platform: 'teams',
    thread,
    userId,
    question: plainText(activity.text),
    attachments,
    receivedAt,
    platformData: { messageId: activity.id },
  };
}
