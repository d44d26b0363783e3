import sharp from 'sharp';
import { createDiscordAdapter } from '../../../adapters/discord/index.ts';
import type { Config } from '../../../src/config.ts';
import type { ChatAdapter } from '../../../src/core/adapter.ts';
import type { Logger } from '../../../src/log.ts';
import { createTestBot, type TestBot, type TestBotOptions } from '../../helpers/test-bot.ts';
import { type CoreDouble, createCoreDouble, sampleCard } from './core-double.ts';
import type { DiscordWorld } from './harness.ts';

/** The two ways the Discord suites run the real adapter: against a BotCore double, or the real bot. */

/** The real adapter against the BotCore double (core-double.ts), started. */
export async function startWithCoreDouble(
  world: DiscordWorld,
  logger: Logger,
  options: { config?: Config } = {},
): Promise<{ adapter: ChatAdapter; core: CoreDouble }> {
  const adapter = createDiscordAdapter(options.config ?? world.config, { logger, clock: Date.now });
  const core = createCoreDouble(() => adapter, sampleCard);
  await adapter.start(core);
  return { adapter, core };
}

/** The real adapter attached to the real bot core (test-bot.ts) on the world's settings (plus `config`), both started. */
export async function startWithRealBot(
  world: DiscordWorld,
  options: TestBotOptions & { logger: Logger },
): Promise<{ bot: TestBot; adapter: ChatAdapter }> {
  const bot = await createTestBot({ ...options, config: { ...world.env, ...options.config } });
  const adapter = createDiscordAdapter(bot.config, { logger: options.logger });
  bot.core.attach(adapter);
  await adapter.start(bot.core);
  await bot.core.start();
  return { bot, adapter };
}

/** A plain grey PNG of the given side, as a chat attachment. */
export function greyPng(side: number, level = 90): Promise<Buffer> {
  return sharp({
    create: { width: side, height: side, channels: 3, background: { r: level, g: level, b: level } },
  })
    .png()
    .toBuffer();
}
