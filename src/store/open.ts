import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { openStore } from './index.ts';
import type { Store } from './types.ts';

/**
 * The store STORE names: the file store in DATA_DIR (default; one process, locked), or Redis shared by
 * several processes (REDIS_URL; prepared images in DATA_DIR, a volume they all mount). ioredis is
 * loaded only for STORE=redis.
 */
export async function openConfiguredStore(config: Config, deps: { logger: Logger }): Promise<Store> {
  if (config.STORE === 'file') return openStore(config.DATA_DIR, deps);
  if (config.REDIS_URL === '') {
    throw new AppError('CONFIG_INVALID', 'STORE=redis without REDIS_URL', {
      userMessage: 'STORE=redis needs REDIS_URL (e.g. redis://127.0.0.1:6379/0); or set STORE=file.',
      details: { variables: ['REDIS_URL'] },
    });
  }
  const { openRedisStore } = await import('./redis/index.ts');
  return openRedisStore(config.DATA_DIR, {
    logger: deps.logger,
    url: config.REDIS_URL,
    retentionMs: config.RETENTION_HOURS * 3600_000,
  });
}
