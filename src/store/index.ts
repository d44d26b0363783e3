import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Low } from 'lowdb';
import type { PreparedImage } from '../core/types.ts';
import type { Logger } from '../log.ts';
import { openAuditLog } from './audit.ts';
import { createDurableJsonFile } from './durable-file.ts';
import { readOrNull, removeQuietly, writeDurably } from './files.ts';
import { acquireLock } from './lock.ts';
import { emptyState, isStateData, type StateData } from './state.ts';
import type { Store, SweepResult } from './types.ts';

export type * from './types.ts';
export { threadKeyOf } from './types.ts';

/** Event ids are remembered at least this long, whatever the retention: platforms redeliver for days. */
const minEventMemoryMs = 48 * 3600_000;
const terminal = new Set(['succeeded', 'failed', 'cancelled']);

export interface OpenStoreDeps {
  logger: Logger;
  clock?: () => number;
}

/**
 * The embedded store: lowdb over DATA_DIR/state.json with durable writes and one backup generation,
 * prepared images as DATA_DIR/images/<sha256>.png and an append-only audit log. Single writer
 * (lock file); a Redis-backed Store replaces it when several processes share the work (DESIGN §8).
 */
export async function openStore(dataDir: string, deps: OpenStoreDeps): Promise<Store> {
  const clock = deps.clock ?? Date.now;
  const logger = deps.logger.child({ component: 'store' });
  const imagesDir = join(dataDir, 'images');
  await mkdir(imagesDir, { recursive: true, mode: 0o700 });
  const lock = await acquireLock(join(dataDir, 'state.lock'));
  let db: Low<StateData>;
  let audit: Awaited<ReturnType<typeof openAuditLog>>;
  try {
    const adapter = createDurableJsonFile<StateData>(join(dataDir, 'state.json'), {
      logger,
      clock,
      validate: isStateData,
    });
    // `new Low(adapter, defaults)`, not JSONFilePreset: the preset swaps in memory storage under NODE_ENV=test.
    db = new Low<StateData>(adapter, emptyState());
    await db.read();
    audit = await openAuditLog(dataDir);
  } catch (error) {
    await lock.release();
    throw error;
  }
  const data = (): StateData => db.data;
  const iso = (): string => new Date(clock()).toISOString();

  // Writes are serialised and coalesced: a caller waits for a write that includes its change.
  let chain: Promise<void> = Promise.resolve();
  let queued: Promise<void> | undefined;
  let closed = false;
  function persist(): Promise<void> {
    if (closed) return Promise.reject(new Error('store closed'));
    if (queued) return queued;
    const next = chain.then(async () => {
      queued = undefined;
      await db.write();
    });
    queued = next;
    chain = next.catch((error: unknown) => {
      logger.error({ err: error }, 'state write failed');
    });
    return next;
  }

  const copy = <T>(value: T): T => structuredClone(value);

  return {
    dataDir,
    async claimEvent(keys, jobId) {
      const eventKey = `e:${keys.platform}:${keys.eventId}`;
      const messageKey = `m:${keys.platform}:${keys.messageKey}`;
      const seen = data().events[eventKey] ?? data().events[messageKey];
      if (seen) {
        // Remember the other key too, so a third delivery under either name is caught.
        data().events[eventKey] ??= seen;
        data().events[messageKey] ??= seen;
        return seen.jobId ? { duplicate: true, jobId: seen.jobId } : { duplicate: true };
      }
      const entry = { ...(jobId ? { jobId } : {}), at: clock() };
      data().events[eventKey] = entry;
      data().events[messageKey] = entry;
      // Not written yet on purpose: the claim becomes durable in the same write as the job
      // (insertJob), so a crash in between cannot leave an event "seen" whose job was never stored.
      return { duplicate: false };
    },
    async releaseEvent(keys) {
      delete data().events[`e:${keys.platform}:${keys.eventId}`];
      delete data().events[`m:${keys.platform}:${keys.messageKey}`];
    },
    async insertJob(job) {
      data().jobs[job.id] = copy(job);
      try {
        await persist();
      } catch (error) {
        // Not durable, so not accepted: the platform will deliver it again.
        delete data().jobs[job.id];
        throw error;
      }
    },
    async getJob(id) {
      const job = data().jobs[id];
      return job ? copy(job) : undefined;
    },
    async updateJob(id, patch) {
      const job = data().jobs[id];
      if (!job) return undefined;
      Object.assign(job, copy(patch));
      await persist();
      return copy(job);
    },
    async listJobs(statuses) {
      const all = Object.values(data().jobs);
      const picked = statuses ? all.filter((job) => statuses.includes(job.status)) : all;
      return copy(picked).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    },
    async getThread(key) {
      const thread = data().threads[key];
      return thread ? copy(thread) : undefined;
    },
    async putThread(thread) {
      data().threads[thread.key] = copy(thread);
      await persist();
    },
    async updateThread(key, change) {
      const current = data().threads[key];
      const next = change(current ? copy(current) : undefined);
      if (!next) return;
      data().threads[key] = copy({ ...next, key });
      await persist();
    },
    async saveImage(image) {
      const ref = image.sha256;
      if (!/^[0-9a-f]{64}$/.test(ref)) throw new Error('prepared image without a sha256');
      const existing = data().images[ref];
      if (!existing || (await readOrNull(join(imagesDir, `${ref}.png`))) === null) {
        await writeDurably(join(imagesDir, `${ref}.png`), image.png);
      }
      const now = iso();
      data().images[ref] = {
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
      };
      await persist();
      return ref;
    },
    async loadImage(ref) {
      const info = data().images[ref];
      if (!info) return undefined;
      const png = await readOrNull(join(imagesDir, `${ref}.png`));
      if (png === null) return undefined;
      info.lastUsedAt = iso();
      const { savedAt: _saved, lastUsedAt: _used, ...facts } = copy(info);
      return { ...facts, png } satisfies PreparedImage;
    },
    async acknowledge(ack) {
      data().acks[ack.jobId] = copy(ack);
      await persist();
    },
    async getAcknowledgement(jobId) {
      const ack = data().acks[jobId];
      return ack ? copy(ack) : undefined;
    },
    async addFeedback(entry) {
      data().feedback.push(copy(entry));
      await persist();
    },
    async listFeedback() {
      return copy(data().feedback);
    },
    audit: (entry) => audit.append(entry, iso()),
    hashId: (value) => audit.hashId(value),
    async sweep(retentionMs) {
      const result = await sweepState(data(), imagesDir, clock(), retentionMs);
      result.corrupt = await sweepCorruptCopies(dataDir, clock() - retentionMs);
      if (result.corrupt > 0)
        logger.info({ corrupt: result.corrupt }, 'retention: damaged state copies deleted');
      if (result.images + result.threads + result.jobs + result.events > 0) {
        // Twice: the backup generation is the previous file, which still holds what expired.
        await persist();
        await persist();
        logger.info(result, 'retention sweep');
      }
      return result;
    },
    async close() {
      if (closed) return;
      await persist().catch(() => undefined);
      closed = true;
      await chain;
      await audit.close();
      await lock.release();
    },
  };
}

/**
 * A damaged state file is moved aside (durable-file.ts) for the operator to inspect; it still holds
 * thread bodies, so it expires with the retention period like the live copy would have. Its age is its
 * modification time (when it was last written as state.json).
 */
async function sweepCorruptCopies(dataDir: string, cutoff: number): Promise<number> {
  let removed = 0;
  for (const name of await readdir(dataDir)) {
    if (!name.startsWith('state.json.corrupt-')) continue;
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
      delete state.jobs[job.id];
      delete state.acks[job.id];
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
    delete state.threads[thread.key];
    result.threads += 1;
  }
  for (const info of Object.values(state.images)) {
    if (inUse.has(info.sha256) || Date.parse(info.lastUsedAt) >= cutoff) continue;
    delete state.images[info.sha256];
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
      delete state.events[key];
      result.events += 1;
    }
  }
  return result;
}
