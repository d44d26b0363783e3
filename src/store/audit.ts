import { createHmac, randomBytes } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import { readOrNull, writeDurably } from './files.ts';
import type { AuditEntry } from './types.ts';

/**
 * The append-only audit trail (DATA_DIR/audit.jsonl): who asked, when, where, which image, which model
 * and prompt, the urgency, who acknowledged. Identifiers are keyed hashes (HMAC-SHA256 with a key kept
 * in the data folder): an auditor holding the folder can check "did user X ask?", a reader of the log
 * alone learns nothing. Never question text, file names or header values.
 */
export interface AuditLog {
  hashId(value: string): string;
  append(entry: AuditEntry, at: string): Promise<void>;
  close(): Promise<void>;
}

export async function openAuditLog(dataDir: string): Promise<AuditLog> {
  const keyPath = join(dataDir, 'audit.key');
  let key = (await readOrNull(keyPath))?.toString('utf8').trim();
  if (!key) {
    key = randomBytes(32).toString('hex');
    await writeDurably(keyPath, `${key}\n`);
  }
  const secret = key;
  const hashId = (value: string): string =>
    createHmac('sha256', secret).update(value).digest('hex').slice(0, 24);
  let handle: FileHandle | undefined = await open(join(dataDir, 'audit.jsonl'), 'a', 0o600);
  let chain: Promise<void> = Promise.resolve();

  return {
    hashId,
    append(entry, at) {
      const line = auditLine(entry, at, hashId);
      const next = chain.then(async () => {
        if (!handle) return;
        await handle.write(`${JSON.stringify(line)}\n`);
        await handle.datasync();
      });
      chain = next.catch(() => undefined);
      return next;
    },
    async close() {
      await chain;
      await handle?.close();
      handle = undefined;
    },
  };
}

/** One audit line: keyed hashes and codes only (shared by the file log and the Redis store's stream). */
export function auditLine(entry: AuditEntry, at: string, hashId: (value: string) => string) {
  return {
    at,
    event: entry.event,
    ...(entry.jobId ? { job: entry.jobId } : {}),
    platform: entry.platform,
    user: hashId(`${entry.platform}:${entry.userId}`),
    channel: hashId(`${entry.platform}:${entry.channelId}`),
    ...(entry.imageSha256 ? { imageSha256: entry.imageSha256 } : {}),
    ...(entry.model ? { model: entry.model } : {}),
    ...(entry.promptVersion ? { promptVersion: entry.promptVersion } : {}),
    ...(entry.urgency ? { urgency: entry.urgency } : {}),
    ...(entry.acknowledgedBy ? { acknowledgedBy: hashId(`${entry.platform}:${entry.acknowledgedBy}`) } : {}),
    ...(entry.code ? { code: entry.code } : {}),
    ...(entry.step !== undefined ? { step: entry.step } : {}),
    ...(entry.paged ? { paged: entry.paged.map((id) => hashId(`${entry.platform}:${id}`)) } : {}),
    ...(entry.ackAfterSec !== undefined ? { ackAfterSec: entry.ackAfterSec } : {}),
  };
}
