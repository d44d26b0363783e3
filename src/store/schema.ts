import { z } from 'zod';

/**
 * What one stored entry must look like for the code that reads it back (resume, follow-ups, retention).
 * Checked entry by entry when the state is loaded: a top level that parses but holds `jobs.x = null` or a
 * thread without turns is damage, found at start-up, not an INTERNAL error later. Objects are loose, so a
 * field added by a newer release survives a load by this one; only the fields relied on are checked.
 */
const text = z.string();
const iso = z.string().min(1);
const threadRef = z.looseObject({ channelId: text, threadId: text });
// Any platform name (core/types.ts: Platform is open), so a new adapter's jobs load back (e.g. teams).
const platform = z.string().min(1);

export const jobSchema = z.looseObject({
  id: z.string().min(1),
  eventId: text,
  messageKey: text,
  platform,
  thread: threadRef,
  threadKey: z.string().min(1),
  userId: text,
  userMessageId: text,
  status: z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled']),
  attempts: z.number(),
  priority: z.number(),
  createdAt: iso,
  finishedAt: iso.optional(),
  isFollowUp: z.boolean(),
  imageRef: z.string().optional(),
  request: z
    .looseObject({ question: text, attachments: z.array(z.looseObject({})), receivedAt: text })
    .optional(),
  answer: z
    .union([
      z.looseObject({ kind: z.literal('read'), card: z.looseObject({}) }),
      z.looseObject({ kind: z.literal('error'), code: text, text }),
    ])
    .optional(),
});

export const threadSchema = z.looseObject({
  key: z.string().min(1),
  platform,
  thread: threadRef,
  active: z.boolean(),
  imageRef: z.string().optional(),
  turns: z.array(z.looseObject({ role: z.enum(['user', 'assistant']), text })),
  lastActivityAt: iso,
  answeredJobs: z.array(text).optional(),
});

export const eventSchema = z.looseObject({ jobId: text.optional(), at: z.number() });

export const imageSchema = z.looseObject({
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  width: z.number(),
  height: z.number(),
  tokens: z.number(),
  meta: z.looseObject({}),
  deid: z.looseObject({}),
  window: z.looseObject({}),
  source: z.looseObject({}),
  savedAt: iso,
  lastUsedAt: iso,
});

export const ackSchema = z.looseObject({ jobId: text, userId: text, at: iso });

export const feedbackSchema = z.looseObject({
  jobId: text,
  userHash: text,
  vote: z.enum(['up', 'down']),
  at: iso,
});

/** The keyed tables of the state, each with the schema of its entries. */
export const tableSchemas = {
  jobs: jobSchema,
  threads: threadSchema,
  events: eventSchema,
  images: imageSchema,
  acks: ackSchema,
} as const;

export type TableName = keyof typeof tableSchemas;
export const tableNames = Object.keys(tableSchemas) as TableName[];

/** The field of an entry that must equal its key (a job filed under another job's id is damage). */
export const keyField: Partial<Record<TableName, string>> = {
  jobs: 'id',
  threads: 'key',
  images: 'sha256',
  acks: 'jobId',
};

/** Whether `value` is a valid entry of `table` stored under `key`. */
export function isValidEntry(table: TableName, key: string, value: unknown): boolean {
  if (!tableSchemas[table].safeParse(value).success) return false;
  const field = keyField[table];
  return !field || (value as Record<string, unknown>)[field] === key;
}

export const isValidFeedback = (value: unknown): boolean => feedbackSchema.safeParse(value).success;
