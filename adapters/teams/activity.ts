/**
 * The Bot Framework activity fields this adapter reads (Bot Framework Activity schema,
 * https://github.com/microsoft/botframework-sdk/blob/main/specs/botframework-activity/botframework-activity.md).
 * Everything is optional on the wire: to-request.ts checks what it uses.
 */
export interface TeamsAccount {
  id?: string;
  name?: string;
  /** The Entra object id of a Teams user: stable across chats, unlike `id`. */
  aadObjectId?: string;
}

export interface TeamsAttachment {
  contentType?: string;
  contentUrl?: string;
  name?: string;
  content?: unknown;
}

export interface TeamsActivity {
  type?: string;
  id?: string;
  name?: string;
  serviceUrl?: string;
  channelId?: string;
  from?: TeamsAccount;
  recipient?: TeamsAccount;
  conversation?: { id?: string; conversationType?: string; tenantId?: string };
  text?: string;
  replyToId?: string;
  attachments?: TeamsAttachment[];
  entities?: Array<{ type?: string; mentioned?: TeamsAccount; text?: string }>;
  channelData?: { tenant?: { id?: string }; channel?: { id?: string } };
  value?: unknown;
}

/** Teams channel conversation ids name the thread's root message: `19:…@thread.tacv2;messageid=<root>`. */
const MESSAGE_ID_SUFFIX = /;messageid=([^;]+)$/;

/** Where a conversation lives: a channel thread, or a personal / group chat (one flat conversation). */
export function threadOfActivity(
  activity: TeamsActivity,
): { channelId: string; threadId: string } | undefined {
  const conversationId = activity.conversation?.id;
  if (!conversationId) return undefined;
  const match = MESSAGE_ID_SUFFIX.exec(conversationId);
  if (match) return { channelId: conversationId.slice(0, match.index), threadId: match[1]! };
  if (activity.conversation?.conversationType === 'channel' && activity.id)
    return { channelId: conversationId, threadId: activity.id };
  return { channelId: conversationId, threadId: conversationId };
}

/** The conversation id that posts into a thread (the inverse of threadOfActivity). */
export function conversationIdOf(thread: { channelId: string; threadId: string }): string {
  return thread.threadId === thread.channelId
    ? thread.channelId
    : `${thread.channelId};messageid=${thread.threadId}`;
}
