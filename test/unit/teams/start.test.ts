import { describe, expect, it } from 'vitest';
import { createTeamsAdapter } from '../../../adapters/teams/index.ts';
import { loadConfig } from '../../../src/config.ts';
import type { BotCore } from '../../../src/core/adapter.ts';
import { isAppError } from '../../../src/errors.ts';
import { silentLogger } from '../../../src/log.ts';

describe('Teams adapter start', () => {
  it('refuses to start without the secret and tenant, naming both and no value', async () => {
    const config = loadConfig({ TEAMS_APP_ID: 'app-1', TEAMS_PORT: '0', DATA_DIR: '/nonexistent' });
    const adapter = createTeamsAdapter(config, { logger: silentLogger, host: '127.0.0.1' });
    const error = await adapter.start({} as BotCore).catch((caught: unknown) => caught);
    expect(isAppError(error, 'CONFIG_INVALID')).toBe(true);
    expect((error as Error & { userMessage: string }).userMessage).toContain(
      'TEAMS_APP_PASSWORD and TEAMS_TENANT_ID are not',
    );
    await adapter.stop();
  });
});
