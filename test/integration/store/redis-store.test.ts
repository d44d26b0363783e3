import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../src/log.ts';
import { openRedisStore } from '../../../src/store/redis/index.ts';
import type { Store } from '../../../src/store/types.ts';
import { dropPrefix, redisTestUrl, testPrefix } from '../../helpers/redis.ts';
import { describeStoreContract } from '../../helpers/store-contract.ts';

const url = await redisTestUrl();

describeStoreContract(
  'Redis store (STORE=redis)',
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qr-redis-contract-'));
    const prefix = testPrefix();
    const open = () =>
      openRedisStore(dir, { logger: silentLogger, url: url!, prefix, retentionMs: 3600_000 });
    let store: Store = await open();
    return {
      store,
      async reopen() {
        await store.close();
        store = await open();
        return store;
      },
      async cleanup() {
        await store.close();
        await dropPrefix(url!, prefix);
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
  url === undefined,
);
