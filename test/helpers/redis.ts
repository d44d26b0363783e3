import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';

/**
 * The Redis the STORE=redis suites run against: REDIS_TEST_URL (set by `.ci/run` and `npm run test:redis`,
 * which start a throwaway redis-server on a private port). Without it, or when nothing answers there, the
 * suites are skipped with a message saying how to run them; they never touch a Redis they were not given.
 */
export const RUN_REDIS_SUITES =
  'npm run test:redis (starts redis-server on 127.0.0.1:6391, REDIS_TEST_PORT to change)';

let reachable: Promise<string | undefined> | undefined;

export function redisTestUrl(): Promise<string | undefined> {
  reachable ??= probe(process.env.REDIS_TEST_URL);
  return reachable;
}

async function probe(url: string | undefined): Promise<string | undefined> {
  if (!url) {
    console.warn(`Redis suites skipped: REDIS_TEST_URL is not set. Run them with: ${RUN_REDIS_SUITES}`);
    return undefined;
  }
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
    return url;
  } catch {
    console.warn(
      `Redis suites skipped: nothing answers at REDIS_TEST_URL. Run them with: ${RUN_REDIS_SUITES}`,
    );
    return undefined;
  } finally {
    client.disconnect();
  }
}

/** A key prefix of its own per test, so suites running at once on one Redis never see each other's keys. */
export function testPrefix(): string {
  return `qr-test:${randomUUID()}:`;
}

/** Delete every key under a prefix (SCAN, not KEYS: the server may be shared). */
export async function dropPrefix(url: string, prefix: string): Promise<void> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await client.del(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}
