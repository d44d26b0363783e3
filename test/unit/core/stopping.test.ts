import { afterEach, describe, expect, it } from 'vitest';
import { BOT_STOPPING_RETRY_S } from '../../../src/errors.ts';
import { request, setupBot, until } from './setup.ts';

type Bot = Awaited<ReturnType<typeof setupBot>>;
let bot: Bot | undefined;
afterEach(async () => {
  bot?.engine.releaseAll();
  await bot?.close();
  bot = undefined;
});

describe('a message that arrives while the bot is stopping (issue 15)', () => {
  it('is refused with BOT_STOPPING and when to post again, and nothing is stored for it', async () => {
    bot = await setupBot({ hold: true });
    const first = await bot.core.handle(request());
    const firstId = (first as { jobId: string }).jobId;
    await until(async () => (await bot!.store.getJob(firstId))?.status === 'running');

    // SIGTERM: the in-flight read gets its grace period while the adapters still deliver messages.
    const stopped = bot.core.stop({ graceMs: 1500 });
    const late = request();
    const outcome = await bot.core.handle(late);
    expect(outcome).toEqual({
      kind: 'refused',
      code: 'BOT_STOPPING',
      retryAfterSec: BOT_STOPPING_RETRY_S,
      reply: {
        kind: 'error',
        code: 'BOT_STOPPING',
        text: 'quickread is restarting; post again in a minute.',
      },
    });
    const jobs = await bot.store.listJobs(['queued', 'running', 'succeeded', 'failed', 'cancelled']);
    expect(jobs.map((job) => job.id)).toEqual([firstId]);
    await stopped;
  });
});
