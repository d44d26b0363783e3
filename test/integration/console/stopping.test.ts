import { afterEach, describe, expect, it } from 'vitest';
import { createConsoleAdapter } from '../../../adapters/console/index.ts';
import { loadConfig } from '../../../src/config.ts';
import { silentLogger } from '../../../src/log.ts';
import { request, setupBot, until } from '../../unit/core/setup.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('console post while the bot is stopping (issue 15)', () => {
  it('answers 503 with Retry-After and the coded reason, so the page keeps the draft', async () => {
    const bot = await setupBot({ hold: true });
    cleanups.push(async () => {
      bot.engine.releaseAll();
      await bot.close();
    });
    const consoleAdapter = createConsoleAdapter(loadConfig({}), { logger: silentLogger, port: 0 });
    await consoleAdapter.start(bot.core);
    cleanups.push(() => consoleAdapter.stop());
    const base = consoleAdapter.url!.replace(/\/$/, '');
    const cookie = ((await fetch(`${base}/`)).headers.get('set-cookie') ?? '').split(';')[0]!;

    // A read in flight keeps the core in its grace period, as after SIGTERM.
    const first = await bot.core.handle(request());
    const firstId = (first as { jobId: string }).jobId;
    await until(async () => (await bot.store.getJob(firstId))?.status === 'running');
    const stopped = bot.core.stop({ graceMs: 1500 });

    const form = new FormData();
    form.append('channel', 'radiology');
    form.append('question', 'any nodule?');
    form.append('file', new Blob([Buffer.from('\x89PNG bytes')], { type: 'image/png' }), 'scan.png');
    const res = await fetch(`${base}/api/messages`, { method: 'POST', body: form, headers: { cookie } });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('60');
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error).toEqual({
      code: 'BOT_STOPPING',
      message: 'quickread is restarting; post again in a minute.',
    });
    await stopped;
  });
});
