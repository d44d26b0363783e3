/**
 * The bot under test for the Teams suite, in its own process so NODE_EXTRA_CA_CERTS (read by Node at
 * start only) makes it trust the loopback fakes' self-signed certificate, and the MSAL instance-discovery
 * shim is preloaded with --import. Real parts: the Teams adapter, the Agents SDK, the bot core, store,
 * dispatcher and image pipeline; the engine is the in-test one (createTestEngine).
 *
 * With CORE=double the adapter talks to a recording BotCore double instead (core-double.ts).
 *
 * env: DATA_DIR, the TEAMS_* variables, HOLD and CORE. Prints `LISTENING <port>`; stops cleanly on SIGTERM.
 */
import { createTeamsAdapter } from '../../../adapters/teams/index.ts';
import { loadConfig } from '../../../src/config.ts';
import { createLogger } from '../../../src/log.ts';
import { createTestEngine } from '../../helpers/core-doubles.ts';
import { createTestBot } from '../../helpers/test-bot.ts';
import { createPrintingCore } from './core-double.ts';

const env = process.env;
const logger = createLogger({ level: (env.BOT_LOG_LEVEL as 'silent' | undefined) ?? 'silent' });
const teamsEnv = {
  TEAMS_APP_ID: env.TEAMS_APP_ID,
  TEAMS_APP_PASSWORD: env.TEAMS_APP_PASSWORD,
  TEAMS_TENANT_ID: env.TEAMS_TENANT_ID,
  TEAMS_AUTHORITY: env.TEAMS_AUTHORITY,
  TEAMS_SERVICE_HOSTS: env.TEAMS_SERVICE_HOSTS,
  TEAMS_FILE_HOSTS: env.TEAMS_FILE_HOSTS,
  TEAMS_PORT: '0',
};
let stopAll: () => Promise<void>;
let url: string;

if (env.CORE === 'double') {
  const config = loadConfig({ ...teamsEnv, DATA_DIR: env.DATA_DIR, CONSOLE_PORT: '0' });
  const adapter = createTeamsAdapter(config, { logger, host: '127.0.0.1', retryBaseMs: 20 });
  await adapter.start(createPrintingCore((line) => process.stdout.write(`${line}\n`)));
  url = adapter.url!;
  stopAll = () => adapter.stop();
} else {
  const bot = await createTestBot({
    engineUrl: 'http://127.0.0.1:9/v1',
    dataDir: env.DATA_DIR!,
    // HOLD=1: reads never finish, so a test can stop the bot mid-read and start another on the same data.
    engine: createTestEngine({ hold: env.HOLD === '1' }),
    logger,
    // One test user sends every read of the suite: the per-user limit is not what is tested here.
    config: { ...teamsEnv, USER_RATE_PER_MIN: '1000' },
  });
  const adapter = createTeamsAdapter(bot.config, { logger, host: '127.0.0.1', retryBaseMs: 20 });
  bot.core.attach(adapter);
  await adapter.start(bot.core);
  await bot.core.start();
  url = adapter.url!;
  stopAll = async () => {
    await adapter.stop();
    await bot.close();
  };
}
process.stdout.write(`LISTENING ${new URL(url).port}\n`);

process.once('SIGTERM', async () => {
  await stopAll();
  process.exit(0);
});
