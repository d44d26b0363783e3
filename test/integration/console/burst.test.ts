import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createConsoleAdapter } from '../../../adapters/console/index.ts';
import { loadConfig } from '../../../src/config.ts';
import { createBotCore } from '../../../src/core/bot.ts';
import { createDispatcher } from '../../../src/dispatch/index.ts';
import { silentLogger } from '../../../src/log.ts';
import { openStore } from '../../../src/store/index.ts';
import { createTestEngine, fakePrepare } from '../../helpers/core-doubles.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('console under a burst of posts', () => {
  it('reads every accepted post of 200 sent at once with QUEUE_MAX=200; refusals are QUEUE_FULL', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'qr-burst-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const config = loadConfig({ DATA_DIR: dataDir, QUEUE_MAX: '200', USER_RATE_PER_MIN: '10000' });
    const store = await openStore(dataDir, { logger: silentLogger });
    // The engine holds every read until released: all 200 uploads are waiting at the same time.
    const engine = createTestEngine({ hold: true });
    const dispatcher = createDispatcher({ engine, config, logger: silentLogger });
    const core = createBotCore({
      config,
      logger: silentLogger,
      store,
      dispatcher,
      engine,
      prepare: fakePrepare,
      statusEditIntervalMs: 60_000,
    });
    const adapter = createConsoleAdapter(config, { logger: silentLogger, port: 0 });
    core.attach(adapter);
    await adapter.start(core);
    await core.start();
    cleanups.push(async () => {
      await core.stop();
      await adapter.stop();
      await store.close();
    });
    const base = adapter.url!.replace(/\/$/, '');
    const cookie = ((await fetch(`${base}/`)).headers.get('set-cookie') ?? '').split(';')[0]!;

    const post = async (index: number) => {
      const form = new FormData();
      form.append('channel', 'radiology');
      form.append('question', 'any nodule?');
      const bytes = Buffer.alloc(64 * 1024, index % 251);
      bytes.write(`scan-${index}`);
      form.append('file', new Blob([bytes], { type: 'image/png' }), `scan-${index}.png`);
      const res = await fetch(`${base}/api/messages`, { method: 'POST', body: form, headers: { cookie } });
      const body = (await res.json()) as { outcome?: string; error?: { code: string } };
      return body.outcome ?? body.error?.code ?? `HTTP ${res.status}`;
    };
    const outcomes = await Promise.all(Array.from({ length: 200 }, (_, index) => post(index)));
    const accepted = outcomes.filter((outcome) => outcome === 'accepted').length;
    // Anything not accepted was refused with a code that says to come back later, never lost.
    expect(outcomes.filter((outcome) => outcome !== 'accepted' && outcome !== 'refused')).toEqual([]);
    expect(accepted).toBeGreaterThan(0);

    const deadline = Date.now() + 60_000;
    for (;;) {
      engine.releaseAll();
      const jobs = await store.listJobs();
      if (
        jobs.length === accepted &&
        jobs.every((job) => job.status === 'succeeded' || job.status === 'failed')
      )
        break;
      if (Date.now() > deadline) throw new Error('burst not finished in time');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const jobs = await store.listJobs();
    const notRead = jobs.filter((job) => job.answer?.kind !== 'read');
    expect(notRead.map((job) => (job.answer?.kind === 'error' ? job.answer.code : job.status))).toEqual([]);
  }, 90_000);
});
