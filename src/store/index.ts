import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PreparedImage } from '../core/types.ts';
import type { Logger } from '../log.ts';
import { openAuditLog } from './audit.ts';
import { storeOpenError, storeWriteError } from './faults.ts';
import { readOrNull, removeQuietly, writeDurably } from './files.ts';
import { isAsideCopy, loadState } from './load.ts';
import { acquireLock } from './lock.ts';
import type { TableName } from './schema.ts';
import type { StateData } from './state.ts';
import type { Store, SweepResult } from './types.ts';
import { createStateWriter, type StateWriter } from './writer.ts';

export type * from './types.ts';
export { threadKeyOf } from './types.ts';

/** Event ids are remembered at least this long, whatever the retention: platforms redeliver for days. */
const minEventMemoryMs = 48 * 3600_000;
const terminal = new Set(['succeeded', 'failed', 'cancelled']);

export interface OpenStoreDeps {
  logger: Logger;
  clock?: () => number;
  /** Test seam: journal writes go through this (to inject ENOSPC). */
  append?: Parameters<typeof createStateWriter>[0]['append'];
  /** Journal size that triggers a compaction (default 8 MiB or the snapshot's size). */
  compactBytes?: number;
}

/**
 * The embedded store: DATA_DIR/state.json (snapshot, one backup generation) plus journal-<n>.jsonl
 * (fsynced changes since it, writer.ts), prepared images as DATA_DIR/images/<sha256>.png and an
 * append-only audit log. Single writer (lock file); a Redis-backed Store replaces it when several
 * processes share the work (DESIGN §8).
 */
export async function openStore(dataDir: string, deps: OpenStoreDeps): Promise<Store> {
  try {
    return await openStoreFiles(dataDir, deps);
  } catch (error) {
    // A store fault at start is always coded (STORE_*), never an INTERNAL error.
    throw storeOpenError(error, dataDir);
  }
}

async function openStoreFiles(dataDir: string, deps: OpenStoreDeps): Promise<Store> {
  const clock = deps.clock ?? Date.now;
  const logger = deps.logger.child({ component: 'store' });
  const imagesDir = join(dataDir, 'images');
  await mkdir(imagesDir, { recursive: true, mode: 0o700 });
  const lock = await acquireLock(join(dataDir, 'state.lock'));
  let state: StateData;
  let writer: StateWriter;
  let audit: Awaited<ReturnType<typeof openAuditLog>>;
  try {
    const loaded = await loadState(dataDir, logger, clock);
    state = loaded.state;
    writer = await createStateWriter({
      dataDir,
      state,
      logger,
      ...(deps.append ? { append: deps.append } : {}),
      ...(deps.compactBytes ? { compactBytes: deps.compactBytes } : {}),
    });
    // A snapshot in the old format, restored from the backup or absent is written out at once.
    if (loaded.compactNow) await writer.compact();
    audit = await openAuditLog(dataDir);
  } catch (error) {
    await lock.release();
    throw error;
  }
  const iso = (): string => new Date(clock()).toISOString();
  let closed = false;

  const copy = <T>(value: T): T => structuredClone(value);
  /** Entries are replaced, never mutated: a compaction in progress holds the old ones. */
  function put<T extends TableName>(table: T, key: string, value: StateData[T][string]): void {
    (state[table] as Record<string, unknown>)[key] = value;
    writer.mark(table, key);
  }
  function drop(table: TableName, key: string): void {
    if (!(key in state[table])) return;
    delete (state[table] as Record<string, unknown>)[key];
    writer.mark(table, key);
  }

  /** Image files are written like the journal: retried with backoff until they land or the store closes. */
  async function writeImageFile(path: string, png: Buffer): Promise<void> {
    for (let waitMs = 100; ; waitMs = Math.min(waitMs * 2, 5000)) {
      try {
        await writeDurably(path, png);
        return;
      } catch (error) {
        const coded = storeWriteError(error, path);
        if (closed) throw coded;
        logger.warn({ code: coded.code, errno: coded.details.errno }, 'image write failed; retrying');
        await sleep(waitMs);
      }
    }
  }

  return {
    dataDir,
    async claimEvent(keys, jobId) {
      const eventKey = `e:${keys.platform}:${keys.eventId}`;
      const messageKey = `m:${keys.platform}:${keys.messageKey}`;
      const seen = state.events[eventKey] ?? state.events[messageKey];
      if (seen) {
        // Remember the other key too, so a third delivery under either name is caught.
        if (!state.events[eventKey]) put('events', eventKey, seen);
        if (!state.events[messageKey]) put('events', messageKey, seen);
        return seen.jobId ? { duplicate: true, jobId: seen.jobId } : { duplicate: true };
      }
      const entry = { ...(jobId ? { jobId } : {}), at: clock() };
      put('events', eventKey, entry);
      put('events', messageKey, entry);
      // Not written yet on purpose: the claim becomes durable in the same write as the job
      // (insertJob), so a crash in between cannot leave an event "seen" whose job was never stored.
      return { duplicate: false };
    },
    async releaseEvent(keys) {
      drop('events', `e:${keys.platform}:${keys.eventId}`);
      drop('events', `m:${keys.platform}:${keys.messageKey}`);
    },
    async insertJob(job) {
      put('jobs', job.id, copy(job));
      try {
        await writer.flush('accept');
      } catch (error) {
        // Not durable, so not accepted: refused with STORE_FULL, or delivered again by the platform.
        drop('jobs', job.id);
        throw error;
      }
    },
    async getJob(id) {
      const job = state.jobs[id];
      return job ? copy(job) : undefined;
    },
    async updateJob(id, patch) {
      const job = state.jobs[id];
      if (!job) return undefined;
      const next = { ...job, ...copy(patch) };
      put('jobs', id, next);
      await writer.flush('change');
      return copy(next);
    },
    async listJobs(statuses) {
      const all = Object.values(state.jobs);
      const picked = statuses ? all.filter((job) => statuses.includes(job.status)) : all;
      return copy(picked).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    },
    async getThread(key) {
      const thread = state.threads[key];
      return thread ? copy(thread) : undefined;
    },
    async putThread(thread) {
      put('threads', thread.key, copy(thread));
      await writer.flush('change');
    },
    async updateThread(key, change) {
      const current = state.threads[key];
      const next = change(current ? copy(current) : undefined);
      if (!next) return;
      put('threads', key, copy({ ...next, key }));
      await writer.flush('change');
    },
    async saveImage(image) {
      const ref = image.sha256;
      if (!/^[0-9a-f]{64}$/.test(ref)) throw new Error('prepared image without a sha256');
      const existing = state.images[ref];
      if (!existing || (await readOrNull(join(imagesDir, `${ref}.png`))) === null) {
        await writeImageFile(join(imagesDir, `${ref}.png`), image.png);
      }
      const now = iso();
      put('images', ref, {
        sha256: ref,
        width: image.width,
        height: image.height,
        tokens: image.tokens,
        meta: copy(image.meta),
        deid: copy(image.deid),
        window: copy(image.window),
        source: copy(image.source),
        savedAt: existing?.savedAt ?? now,
        lastUsedAt: now,
      });
      await writer.flush('change');
      return ref;
    },
    async loadImage(ref) {
      const info = state.images[ref];
      if (!info) return undefined;
      const png = await readOrNull(join(imagesDir, `${ref}.png`));
      if (png === null) return undefined;
      // Written with the next change: a lost "last used" only shortens an image's life by a little.
      put('images', ref, { ...info, lastUsedAt: iso() });
      const { savedAt: _saved, lastUsedAt: _used, ...facts } = copy(info);
      return { ...facts, png } satisfies PreparedImage;
    },
    async acknowledge(ack) {
      put('acks', ack.jobId, copy(ack));
      await writer.flush('change');
    },
    async getAcknowledgement(jobId) {
      const ack = state.acks[jobId];
      return ack ? copy(ack) : undefined;
    },
    async addFeedback(entry) {
      state.feedback.push(copy(entry));
      await writer.flush('change');
    },
    async listFeedback() {
      return copy(state.feedback);
    },
    audit: (entry) => audit.append(entry, iso()),
    hashId: (value) => audit.hashId(value),
    health: () => writer.health(),
    async sweep(retentionMs) {
      const result = await sweepState(state, { drop }, imagesDir, clock(), retentionMs);
      result.corrupt = await sweepCorruptCopies(dataDir, clock() - retentionMs);
      if (result.corrupt > 0)
        logger.info({ corrupt: result.corrupt }, 'retention: damaged state copies deleted');
      if (result.images + result.threads + result.jobs + result.events > 0) {
        // Twice: the backup generation and the journal it needs still hold what expired.
        await writer.compact();
        await writer.compact();
        logger.info(result, 'retention sweep');
      }
      return result;
    },
    async close() {
      if (closed) return;
      closed = true;
      await writer.close();
      await audit.close();
      await lock.release();
    },
  };
}

/**
 * A damaged state file is moved aside (load.ts, repair.ts) for the operator to inspect; it still holds
 * thread bodies, so it expires with the retention period like the live copy would have. Its age is its
 * modification time (when it was last written as state.json).
 */
async function sweepCorruptCopies(dataDir: string, cutoff: number): Promise<number> {
  let removed = 0;
  for (const name of await readdir(dataDir)) {
    if (!isAsideCopy(name)) continue;
    const path = join(dataDir, name);
    const modified = await stat(path).then(
      (info) => info.mtimeMs,
      () => Number.POSITIVE_INFINITY,
    );
    if (modified < cutoff) {
      await removeQuietly(path);
      removed += 1;
    }
  }
  return removed;
}

/** Retention (RETENTION_HOURS): images and thread bodies go; running work and its image stay. */
async function sweepState(
  state: StateData,
  edit: { drop(table: TableName, key: string): void },
  imagesDir: string,
  now: number,
  retentionMs: number,
): Promise<SweepResult> {
  const cutoff = now - retentionMs;
  const result: SweepResult = { images: 0, threads: 0, jobs: 0, events: 0, corrupt: 0 };
  const liveJobs = Object.values(state.jobs).filter((job) => !terminal.has(job.status));
  const inUse = new Set(liveJobs.map((job) => job.imageRef).filter((ref): ref is string => !!ref));
  // Every image of a study (views, slices, a prior) stays while its job or thread does.
  for (const job of liveJobs) for (const image of job.study?.images ?? []) inUse.add(image.ref);
  for (const job of Object.values(state.jobs)) {
    const finished = job.finishedAt ? Date.parse(job.finishedAt) : undefined;
    if (terminal.has(job.status) && finished !== undefined && finished < cutoff) {
      edit.drop('jobs', job.id);
      edit.drop('acks', job.id);
      result.jobs += 1;
    }
  }
  for (const thread of Object.values(state.threads)) {
    if (Date.parse(thread.lastActivityAt) >= cutoff) {
      if (thread.imageRef) inUse.add(thread.imageRef);
      for (const image of thread.study?.images ?? []) inUse.add(image.ref);
      continue;
    }
    if (liveJobs.some((job) => job.threadKey === thread.key)) continue;
    edit.drop('threads', thread.key);
    result.threads += 1;
  }
  for (const info of Object.values(state.images)) {
    if (inUse.has(info.sha256) || Date.parse(info.lastUsedAt) >= cutoff) continue;
    edit.drop('images', info.sha256);
    await removeQuietly(join(imagesDir, `${info.sha256}.png`));
    result.images += 1;
  }
  // Orphan PNGs (a crash between writing the file and recording it) go too.
  for (const name of await readdir(imagesDir)) {
    const sha = /^([0-9a-f]{64})\.png$/.exec(name)?.[1];
    if (!sha || state.images[sha]) continue;
    const modified = await stat(join(imagesDir, name)).then(
      (info) => info.mtimeMs,
      () => now,
    );
    if (modified < cutoff) {
      await removeQuietly(join(imagesDir, name));
      result.images += 1;
    }
  }
  const eventCutoff = now - Math.max(retentionMs, minEventMemoryMs);
  for (const [key, entry] of Object.entries(state.events)) {
    if (entry.at < eventCutoff) {
      edit.drop('events', key);
      result.events += 1;
    }
  }
  return result;
}
