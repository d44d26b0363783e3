import type { AttachmentRef, InboundRequest } from '../../src/core/types.ts';

/** The console's channels. Ids are what the core, the store and ALLOWED_CHANNELS see. */
export const defaultChannels = ['ed-oncall', 'radiology', 'teaching'] as const;

/** A message posted from the page, after the multipart body was parsed. */
export interface ConsolePost {
  messageId: string;
  channelId: string;
  /** Root message id when posted as a reply in a thread; absent for a new top-level message. */
  threadId?: string;
  userId: string;
  question: string;
  /** One attached file (the single-file post). */
  upload?: ConsoleUpload;
  /** Several attached files, in the order posted: one study (issue 17). Read after `upload` if both. */
  uploads?: ConsoleUpload[];
  receivedAt: string;
}

/** An upload the adapter holds in memory (download.ts), named by its id. */
export interface ConsoleUpload {
  fileId: string;
  mimeType?: string;
  sizeBytes: number;
  name: string;
}

const maxQuestionChars = 2000;

/** Trim and bound the question; control characters other than newline and tab are dropped. */
export function cleanQuestion(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
  const stripped = text.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '');
  return stripped.trim().slice(0, maxQuestionChars);
}

export function isValidChannel(channelId: string, channels: readonly string[]): boolean {
  return channels.includes(channelId);
}

/** Pure mapping: a console post → the platform-neutral request the bot core handles. */
export function toInboundRequest(post: ConsolePost): InboundRequest {
  const threadId = post.threadId ?? post.messageId;
  // Every attachment, in posted order: the core reads them as one study (STUDY_MAX_IMAGES of them,
  // naming the rest in its reply).
  const uploads = [...(post.upload ? [post.upload] : []), ...(post.uploads ?? [])];
  const attachments: AttachmentRef[] = uploads.map((upload) => ({
    platform: 'console',
    fileId: upload.fileId,
    // Not a fetchable address: the adapter holds the bytes (download.ts).
    url: `console-upload:${upload.fileId}`,
    name: upload.name,
    ...(upload.mimeType ? { mimeType: upload.mimeType } : {}),
    sizeBytes: upload.sizeBytes,
  }));
  return {
    eventId: post.messageId,
    messageKey: `console:${post.channelId}:${post.messageId}`,
    platform: 'console',
    thread: { channelId: post.channelId, threadId },
    userId: post.userId,
    question: cleanQuestion(post.question),
    attachments,
    receivedAt: post.receivedAt,
    platformData: { messageId: post.messageId },
  };
}

/** What kind of file this looks like, for the user's own message line (never the file name). */
export function describeUpload(mimeType: string | undefined, name: string): string {
  const lower = name.toLowerCase();
  if (mimeType === 'application/dicom' || lower.endsWith('.dcm') || !lower.includes('.')) return 'DICOM';
  if (mimeType === 'image/png' || lower.endsWith('.png')) return 'PNG image';
  if (mimeType === 'image/jpeg' || /\.jpe?g$/.test(lower)) return 'JPEG image';
  return 'file';
}

/** What was attached, for the user's message line: "PNG image", or "2 files: PNG image, DICOM". */
export function describeUploads(uploads: readonly { mimeType?: string; name: string }[]): string {
  const kinds = uploads.map((upload) => describeUpload(upload.mimeType, upload.name));
  return kinds.length === 1 ? kinds[0]! : `${kinds.length} files: ${kinds.join(', ')}`;
}

/**
 * "help", "status" or "model" typed on its own as a new message: the console's `/quickread` (Slack and
 * Discord answer the same command kinds, so the words come from the core's one catalogue).
 */
export function consoleCommand(question: string): 'help' | 'status' | 'model' | undefined {
  const match = /^\s*\/?(?:quickread\s+)?(help|status|model)\s*[.?!]?\s*$/i.exec(question);
  return match ? (match[1]!.toLowerCase() as 'help' | 'status' | 'model') : undefined;
}
