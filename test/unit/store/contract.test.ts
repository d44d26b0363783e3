import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../src/log.ts';
import { openStore } from '../../../src/store/index.ts';
import type { Store } from '../../../src/store/types.ts';
import { describeStoreContract } from '../../helpers/store-contract.ts';

describeStoreContract('file store (DATA_DIR)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'qr-contract-'));
  let store: Store = await openStore(dir, { logger: silentLogger });
  return {
    store,
    async reopen() {
      await store.close();
      store = await openStore(dir, { logger: silentLogger });
      return store;
    },
    async cleanup() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
