import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAppError } from '../../../src/errors.ts';
import { silentLogger } from '../../../src/log.ts';
import { openRedisStore } from '../../../src/store/redis/index.ts';
import { dropPrefix, redisTestUrl, testPrefix } from '../../helpers/redis.ts';
import { contractJob } from '../../helpers/store-contract.ts';
import { request, setupBot } from '../../unit/core/setup.ts';

/** STORE=redis as several processes use it: shared claims, TTL retention, Redis going away. */
const url = await redisTestUrl();

let dir: string;
let prefix: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qr-redis-cluster-'));
  prefix = testPrefix();
});
afterEach(async () => {
  if (url) await dropPrefix(url, prefix);
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(url === undefined)('STORE=redis across processes', () => {
  it('lets exactly one of two bot processes take each event (Slack/Discord redelivery to another replica)', async () => {
    const storeUrl = new URL('../../../src/store/redis/index.ts', import.meta.url).href;
    const logUrl = new URL('../../../src/log.ts', import.meta.url).href;
    const at = Date.now() + 2500;
    const events = 40;
    // Each process claims the same 40 events at the same instant and prints the ones it won.
    const code = `const { openRedisStore } = await import(${JSON.stringify(storeUrl)});
      const { silentLogger } = await import(${JSON.stringify(logUrl)});
      const store = await openRedisStore(${JSON.stringify(dir)}, { logger: silentLogger, url: ${JSON.stringify(url)}, prefix: ${JSON.stringify(prefix)}, retentionMs: 3600000, exclusive: false });
      while (Date.now() < ${at}) {}
      const won = [];
      await Promise.all(Array.from({ length: ${events} }, async (_, i) => {
        const claim = await store.claimEvent({ platform: 'slack', eventId: 'Ev' + i, messageKey: 'slack:C1:' + i }, process.pid + '-' + i);
        if (!claim.duplicate) won.push(i);
      }));
      console.log(JSON.stringify(won));
      await store.close();`;
    const run = () =>
      new Promise<number[]>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code]);
        let out = '';
        let err = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
        });
        child.stderr.on('data', (chunk: Buffer) => {
          err += chunk.toString();
        });
        child.on('close', (status) =>
          status === 0 ? resolve(JSON.parse(out.trim()) as number[]) : reject(new Error(err)),
        );
      });
    const [first, second] = await Promise.all([run(), run()]);
    const all = [...first!, ...second!].sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: events }, (_, i) => i));
  }, 30_000);

  it('lets one bot process at a time use a Redis until the shared queue exists, and frees it on close', async () => {
    const open = () =>
      openRedisStore(dir, { logger: silentLogger, url: url!, prefix, retentionMs: 3600_000, leaseMs: 400 });
    const first = await open();
    const refused = await open().catch((caught: unknown) => caught);
    expect(isAppError(refused, 'STORE_LOCKED')).toBe(true);
    expect((refused as { userMessage: string }).userMessage).toMatch(/one bot process per Redis/);
    // Held while alive: the lease is renewed past its time to live.
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(isAppError(await open().catch((caught: unknown) => caught), 'STORE_LOCKED')).toBe(true);
    await first.close();
    const second = await open();
    await second.close();
  });

  it('expires finished jobs, threads and acknowledgements by TTL and keeps live jobs', async () => {
    const store = await openRedisStore(dir, { logger: silentLogger, url: url!, prefix, retentionMs: 300 });
    try {
      const finishedAt = new Date().toISOString();
      await store.insertJob(contractJob('done', { status: 'succeeded', finishedAt }));
      await store.insertJob(contractJob('live', { status: 'running' }));
      await store.acknowledge({ jobId: 'done', userId: 'U2', at: finishedAt });
      await store.putThread({
        key: 'console:c:t',
        platform: 'console',
        thread: { channelId: 'c', threadId: 't' },
        active: true,
        turns: [],
        lastActivityAt: finishedAt,
      });
      expect((await store.listJobs()).map((job) => job.id).sort()).toEqual(['done', 'live']);
      await new Promise((resolve) => setTimeout(resolve, 700));
      expect((await store.listJobs()).map((job) => job.id)).toEqual(['live']);
      expect(await store.getThread('console:c:t')).toBeUndefined();
      expect(await store.getAcknowledgement('done')).toBeUndefined();
    } finally {
      await store.close();
    }
  });

  it('refuses with STORE_UNAVAILABLE at once when Redis goes away, and says so in health', async () => {
    const proxy = await tcpProxy(new URL(url!));
    const store = await openRedisStore(dir, {
      logger: silentLogger,
      url: `redis://127.0.0.1:${proxy.port}`,
      prefix,
      retentionMs: 3600_000,
    });
    try {
      await store.insertJob(contractJob('before'));
      await proxy.cut();
      await new Promise((resolve) => setTimeout(resolve, 50));
      const started = Date.now();
      const error = await store.insertJob(contractJob('after')).catch((caught: unknown) => caught);
      expect(isAppError(error, 'STORE_UNAVAILABLE')).toBe(true);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(store.health()).toMatchObject({ ok: false, code: 'STORE_UNAVAILABLE' });
      const claim = await store
        .claimEvent({ platform: 'slack', eventId: 'E', messageKey: 'm' })
        .catch((caught: unknown) => caught);
      expect(isAppError(claim, 'STORE_UNAVAILABLE')).toBe(true);
    } finally {
      await store.close();
      await proxy.close();
    }
  });

  it('has the bot refuse a request with STORE_UNAVAILABLE, not take it, while Redis is away', async () => {
    const proxy = await tcpProxy(new URL(url!));
    const store = await openRedisStore(dir, {
      logger: silentLogger,
      url: `redis://127.0.0.1:${proxy.port}`,
      prefix,
      retentionMs: 3600_000,
    });
    const bot = await setupBot({ store, dataDir: dir });
    try {
      expect(await bot.core.handle(request())).toMatchObject({ kind: 'accepted' });
      await proxy.cut();
      await new Promise((resolve) => setTimeout(resolve, 50));
      const refused = (await bot.core.handle(request())) as {
        kind: string;
        code?: string;
        reply?: { text?: string };
      };
      expect(refused).toMatchObject({ kind: 'refused', code: 'STORE_UNAVAILABLE' });
      expect(refused.reply?.text).toMatch(/shared storage .* not reachable/);
    } finally {
      await bot.close(false);
      await proxy.close();
    }
  });

  it('refuses to start with a coded error that names REDIS_URL when nothing answers', async () => {
    const dead = await tcpProxy(new URL(url!));
    const port = dead.port;
    await dead.close();
    const error = await openRedisStore(dir, {
      logger: silentLogger,
      url: `redis://127.0.0.1:${port}`,
      retentionMs: 1000,
    }).catch((caught: unknown) => caught);
    expect(isAppError(error, 'STORE_UNAVAILABLE')).toBe(true);
    expect((error as { userMessage: string }).userMessage).toMatch(/REDIS_URL/);
  });
});

/** A loopback TCP proxy to Redis that can drop every connection and refuse new ones (Redis "dies"). */
async function tcpProxy(
  target: URL,
): Promise<{ port: number; cut(): Promise<void>; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = new Socket();
    upstream.connect(Number(target.port), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const close = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  return { port, cut: close, close: () => (server.listening ? close() : Promise.resolve()) };
}
