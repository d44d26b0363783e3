import { createHmac, randomBytes } from 'node:crypto';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { PreparedImage } from '../../core/types.ts';
import { AppError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { auditLine } from '../audit.ts';
import { readOrNull, removeQuietly, writeDurably } from '../files.ts';
import type { Store, StoredImageInfo, StoredJob, StoredThread, SweepResult } from '../types.ts';
import { CLAIM_EVENT_SCRIPT, RELEASE_LEASE_SCRIPT, RENEW_LEASE_SCRIPT, redisKeys } from './keys.ts';

/** Event ids are remembered at least this long, whatever the retention: platforms redeliver for days. */
const MIN_EVENT_MEMORY_MS = 48 * 3600_000;
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);
/** Optimistic transactions (WATCH/MULTI/EXEC) retried this often before giving up as unavailable. */
const MAX_TX_TRIES = 20;

export interface OpenRedisStoreDeps {
  logger: Logger;
  url: string;
  /** Retention (RETENTION_HOURS) in ms: the TTL of finished jobs, threads, acks and image facts. */
  retentionMs: number;
  /** Key prefix (tests give each run its own). */
  prefix?: string;
  clock?: () => number;
  /**
   * Hold a lease so only one bot process uses this Redis (default true). Reads are still queued in each
   * process's memory and a starting process resumes every owed job it finds, so two processes would both
   * resume the same job. The lease goes once the durable shared queue (BullMQ, issue 20) lands.
   */
  exclusive?: boolean;
  /** Lease time to live (default 15 s; renewed every third of it): a killed holder frees it by then. */
  leaseMs?: number;
}

/**
 * The shared store for several bot processes (STORE=redis, DESIGN §8). Jobs, threads, event claims,
 * acknowledgements, feedback, image facts and the audit trail live in Redis; retention is Redis TTLs.
 * Prepared PNGs stay files in DATA_DIR/images (a volume every process mounts): they are binary blobs of
 * up to a few MB that Redis would hold in RAM for the whole retention period, and the files are
 * content-addressed (sha256), so concurrent writers of one image write the same bytes.
 *
 * Every write resolves only once Redis has it (the adapter acks the platform after insertJob); when
 * Redis cannot be reached, calls fail fast with STORE_UNAVAILABLE instead of queueing in memory, so
 * nothing is acknowledged that is not stored. No process lock: that belongs to the file store only.
 */
export async function openRedisStore(dataDir: string, deps: OpenRedisStoreDeps): Promise<Store> {
  const clock = deps.clock ?? Date.now;
  const logger = deps.logger.child({ component: 'store', backend: 'redis' });
  const key = redisKeys(deps.prefix ?? 'quickread:');
  const imagesDir = join(dataDir, 'images');
  await mkdir(imagesDir, { recursive: true, mode: 0o700 });
  // enableOfflineQueue off + one retry per request: a command while Redis is down fails at once
  // rather than waiting in memory for a reconnect that may never come (ioredis README, "Offline Queue").
  const redis = new Redis(deps.url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(times * 200, 5000),
  });
  let lastError: string | undefined;
  redis.on('error', (error: NodeJS.ErrnoException) => {
    const code = error.code ?? 'error';
    if (code !== lastError) logger.warn({ code }, 'redis connection problem; retrying');
    lastError = code;
  });
  redis.on('ready', () => {
    lastError = undefined;
  });
  redis.defineCommand('claimEvent', { numberOfKeys: 2, lua: CLAIM_EVENT_SCRIPT });
  const call = async <T>(what: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      throw unavailable(what, error);
    }
  };
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new AppError('STORE_UNAVAILABLE', `redis connect failed: ${code}`, {
      cause: error,
      details: { code },
      userMessage: `quickread cannot reach Redis at REDIS_URL (${code}): start it, or check the URL and the network; STORE=file runs without it.`,
    });
  }
  const lease =
    deps.exclusive === false
      ? undefined
      : await takeLease(redis, key.processLease, deps.leaseMs ?? 15_000, logger);
  // One HMAC key for the whole cluster, so every process hashes a user id the same way in the audit.
  await call('audit key', () => redis.set(key.auditKey, randomBytes(32).toString('hex'), 'NX'));
  const secret = (await call('audit key', () => redis.get(key.auditKey)))!;
  const hashId = (value: string) => createHmac('sha256', secret).update(value).digest('hex').slice(0, 24);
  const iso = () => new Date(clock()).toISOString();
  const parse = <T>(text: string | null): T | undefined =>
    text === null ? undefined : (JSON.parse(text) as T);
  const eventTtlMs = Math.max(deps.retentionMs, MIN_EVENT_MEMORY_MS);

  /**
   * Read-modify-write of one key with no interleaving across processes (WATCH/MULTI/EXEC, retried when
   * another process changed the key). WATCH belongs to the connection and EXEC clears every watch on
   * it, so this process's own transactions take turns on its one connection.
   */
  let turn: Promise<unknown> = Promise.resolve();
  /** Runs `work` after this process's other MULTI/EXEC users (insertJob too: its EXEC would unwatch). */
  function exclusive<T>(work: () => Promise<T>): Promise<T> {
    const mine = turn.then(work);
    turn = mine.catch(() => undefined);
    return mine;
  }
  const transact = <T>(
    redisKey: string,
    change: (current: T | undefined) => { value: T; ttlMs?: number } | undefined,
  ): Promise<T | undefined> => exclusive(() => transactNow(redisKey, change));

  async function transactNow<T>(
    redisKey: string,
    change: (current: T | undefined) => { value: T; ttlMs?: number } | undefined,
  ): Promise<T | undefined> {
    for (let tries = 0; tries < MAX_TX_TRIES; tries += 1) {
      await redis.watch(redisKey);
      const current = parse<T>(await redis.get(redisKey));
      const next = change(current);
      if (!next) {
        await redis.unwatch();
        return undefined;
      }
      const tx = redis.multi();
      if (next.ttlMs === undefined) tx.set(redisKey, JSON.stringify(next.value));
      else tx.set(redisKey, JSON.stringify(next.value), 'PX', Math.max(1, Math.round(next.ttlMs)));
      if ((await tx.exec()) !== null) return next.value;
    }
    throw new AppError('STORE_UNAVAILABLE', `redis: ${redisKey} kept changing under a transaction`);
  }

  /** Finished jobs expire after the retention period; live ones never do. */
  const jobTtl = (job: StoredJob): number | undefined => {
    if (!TERMINAL.has(job.status)) return undefined;
    const finished = job.finishedAt ? Date.parse(job.finishedAt) : clock();
    return Math.max(1, finished + deps.retentionMs - clock());
  };

  const store: Store = {
    dataDir,
    claimEvent: (keys, jobId) =>
      call('claim event', async () => {
        const entry = JSON.stringify({ ...(jobId ? { jobId } : {}), at: clock() });
        const seen = (await (
          redis as unknown as {
            claimEvent(a: string, b: string, value: string, ttl: number): Promise<string | null>;
          }
        ).claimEvent(
          key.event('e', keys.platform, keys.eventId),
          key.event('m', keys.platform, keys.messageKey),
          entry,
          eventTtlMs,
        )) as string | null;
        if (seen === null) return { duplicate: false };
        const first = JSON.parse(seen) as { jobId?: string };
        return first.jobId ? { duplicate: true, jobId: first.jobId } : { duplicate: true };
      }),
    releaseEvent: (keys) =>
      call('release event', async () => {
        await redis.del(
          key.event('e', keys.platform, keys.eventId),
          key.event('m', keys.platform, keys.messageKey),
        );
      }),
    insertJob: (job) =>
      call('insert job', () =>
        exclusive(async () => {
          const tx = redis.multi().sadd(key.jobIndex, job.id);
          const ttl = jobTtl(job);
          if (ttl === undefined) tx.set(key.job(job.id), JSON.stringify(job));
          else tx.set(key.job(job.id), JSON.stringify(job), 'PX', ttl);
          await tx.exec();
        }),
      ),
    getJob: (id) => call('get job', async () => parse<StoredJob>(await redis.get(key.job(id)))),
    updateJob: (id, patch) =>
      call('update job', () =>
        transact<StoredJob>(key.job(id), (job) => {
          if (!job) return undefined;
          const value = { ...job, ...structuredClone(patch) };
          const ttlMs = jobTtl(value);
          return ttlMs === undefined ? { value } : { value, ttlMs };
        }),
      ),
    listJobs: (statuses) =>
      call('list jobs', async () => {
        const ids = await redis.smembers(key.jobIndex);
        if (ids.length === 0) return [];
        const texts = await redis.mget(ids.map((id) => key.job(id)));
        const gone = ids.filter((_, index) => texts[index] === null);
        // Expired by TTL: drop them from the index too.
        if (gone.length > 0) await redis.srem(key.jobIndex, ...gone);
        const jobs = texts.flatMap((text) => (text === null ? [] : [JSON.parse(text) as StoredJob]));
        const picked = statuses ? jobs.filter((job) => statuses.includes(job.status)) : jobs;
        return picked.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
      }),
    getThread: (threadKey) =>
      call('get thread', async () => parse<StoredThread>(await redis.get(key.thread(threadKey)))),
    putThread: (thread) =>
      call('put thread', async () => {
        await redis.set(key.thread(thread.key), JSON.stringify(thread), 'PX', deps.retentionMs);
      }),
    updateThread: (threadKey, change) =>
      call('update thread', async () => {
        await transact<StoredThread>(key.thread(threadKey), (current) => {
          const next = change(current ? structuredClone(current) : undefined);
          return next ? { value: { ...next, key: threadKey }, ttlMs: deps.retentionMs } : undefined;
        });
      }),
    async saveImage(image) {
      const ref = image.sha256;
      if (!/^[0-9a-f]{64}$/.test(ref)) throw new Error('prepared image without a sha256');
      const path = join(imagesDir, `${ref}.png`);
      if ((await readOrNull(path)) === null) await writeDurably(path, image.png);
      await call('save image', async () => {
        const existing = parse<StoredImageInfo>(await redis.get(key.image(ref)));
        const now = iso();
        const info: StoredImageInfo = {
          sha256: ref,
          width: image.width,
          height: image.height,
          tokens: image.tokens,
          meta: image.meta,
          deid: image.deid,
          window: image.window,
          source: image.source,
          savedAt: existing?.savedAt ?? now,
          lastUsedAt: now,
        };
        await redis.set(key.image(ref), JSON.stringify(info), 'PX', deps.retentionMs);
      });
      return ref;
    },
    async loadImage(ref) {
      const info = await call('load image', async () =>
        parse<StoredImageInfo>(await redis.get(key.image(ref))),
      );
      if (!info) return undefined;
      const png = await readOrNull(join(imagesDir, `${ref}.png`));
      if (png === null) return undefined;
      // Used again: it lives another retention period (a follow-up keeps its image).
      await call('touch image', () =>
        redis.set(key.image(ref), JSON.stringify({ ...info, lastUsedAt: iso() }), 'PX', deps.retentionMs),
      );
      const { savedAt: _saved, lastUsedAt: _used, ...facts } = info;
      return { ...facts, png } satisfies PreparedImage;
    },
    acknowledge: (ack) =>
      call('acknowledge', async () => {
        await redis.set(key.ack(ack.jobId), JSON.stringify(ack), 'PX', deps.retentionMs);
      }),
    getAcknowledgement: (jobId) =>
      call('get acknowledgement', async () => parse(await redis.get(key.ack(jobId)))),
    addFeedback: (entry) =>
      call('add feedback', async () => {
        await redis.rpush(key.feedback, JSON.stringify(entry));
      }),
    listFeedback: () =>
      call('list feedback', async () =>
        (await redis.lrange(key.feedback, 0, -1)).map((text) => JSON.parse(text)),
      ),
    audit: (entry) =>
      call('audit', async () => {
        // A Redis stream: append-only, ordered across processes, readable with XRANGE by an auditor.
        await redis.xadd(key.audit, '*', 'line', JSON.stringify(auditLine(entry, iso(), hashId)));
      }),
    hashId,
    health: () =>
      redis.status === 'ready'
        ? { ok: true }
        : { ok: false, code: 'STORE_UNAVAILABLE', reason: `redis connection is ${redis.status}` },
    async sweep(retentionMs) {
      const result: SweepResult = { images: 0, threads: 0, jobs: 0, events: 0, corrupt: 0 };
      // Redis expires jobs, threads, acks, image facts and event claims by itself; what is left is the
      // index of job ids and the PNG files whose facts have expired.
      const before = await call('sweep', () => redis.scard(key.jobIndex));
      const live = await store.listJobs();
      result.jobs = before - live.length;
      const inUse = new Set(live.map((job) => job.imageRef).filter((ref): ref is string => !!ref));
      const cutoff = clock() - retentionMs;
      for (const name of await readdir(imagesDir)) {
        const sha = /^([0-9a-f]{64})\.png$/.exec(name)?.[1];
        if (!sha || inUse.has(sha)) continue;
        if ((await call('sweep', () => redis.exists(key.image(sha)))) === 1) continue;
        const modified = await stat(join(imagesDir, name)).then(
          (info) => info.mtimeMs,
          () => clock(),
        );
        if (modified < cutoff) {
          await removeQuietly(join(imagesDir, name));
          result.images += 1;
        }
      }
      return result;
    },
    async close() {
      if (redis.status === 'end') return;
      await lease?.release();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
  return store;
}

function unavailable(what: string, error: unknown): AppError {
  if (error instanceof AppError) return error;
  const code = (error as NodeJS.ErrnoException).code ?? (error as Error).name ?? 'error';
  return new AppError('STORE_UNAVAILABLE', `redis ${what} failed: ${code}`, {
    cause: error,
    details: { code },
  });
}

/** The one-process lease (see OpenRedisStoreDeps.exclusive): SET NX PX, renewed while held. */
async function takeLease(redis: Redis, leaseKey: string, leaseMs: number, logger: Logger) {
  const holder = randomBytes(12).toString('hex');
  const taken = await redis.set(leaseKey, holder, 'PX', leaseMs, 'NX').catch((error: unknown) => {
    throw unavailable('process lease', error);
  });
  if (taken !== 'OK') {
    redis.disconnect();
    throw new AppError('STORE_LOCKED', 'another process holds the redis process lease', {
      userMessage: `Another quickread process is using this Redis (STORE=redis runs one bot process per Redis until the shared queue is built). Stop it, or wait ${Math.ceil(leaseMs / 1000)} s if it was killed.`,
    });
  }
  const timer = setInterval(
    () => {
      redis.eval(RENEW_LEASE_SCRIPT, 1, leaseKey, holder, leaseMs).then(
        (renewed) => {
          if (renewed === 0) logger.error('redis process lease lost to another process');
        },
        () => undefined, // Redis unreachable: the store already refuses; renewal resumes when it is back.
      );
    },
    Math.max(50, Math.floor(leaseMs / 3)),
  );
  timer.unref();
  return {
    async release() {
      clearInterval(timer);
      await redis.eval(RELEASE_LEASE_SCRIPT, 1, leaseKey, holder).catch(() => undefined);
    },
  };
}
