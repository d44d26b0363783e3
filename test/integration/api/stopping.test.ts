import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/api/metrics.ts';
import { createReadPipeline } from '../../../src/api/pipeline.ts';
import { startApiServer } from '../../../src/api/server.ts';
import { loadConfig } from '../../../src/config.ts';
import { silentLogger } from '../../../src/log.ts';
import { startFakeOpenAI } from '../../fakes/openai-server.ts';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('serve-api stopping with a read in flight (issue 15)', () => {
  it('answers the waiting caller 503 BOT_STOPPING with Retry-After, not a reset connection', async () => {
    const fake = await startFakeOpenAI();
    cleanups.push(() => fake.close());
    const dir = await mkdtemp(join(tmpdir(), 'qr-api-stop-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const config = loadConfig({ ENGINE_URL: fake.url, DATA_DIR: dir, BURNED_IN_TEXT: 'flag' });
    const pipeline = createReadPipeline(config, { logger: silentLogger });
    cleanups.push(() => pipeline.close());
    const metrics = createMetrics(pipeline.dispatcher, { processMetrics: false });
    cleanups.push(() => metrics.close());
    const api = await startApiServer(
      {
        config,
        logger: silentLogger,
        dispatcher: pipeline.dispatcher,
        metrics,
        prepare: pipeline.prepare,
        model: pipeline.engine.model,
      },
      { port: 0, host: '127.0.0.1' },
    );
    cleanups.push(() => api.close());

    const png = await sharp({
      create: { width: 64, height: 64, channels: 3, background: { r: 90, g: 90, b: 90 } },
    })
      .png()
      .toBuffer();
    await fake.setMode('hang');
    const answer = fetch(`${api.url}/v1/visualqa`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ image: png.toString('base64'), question: 'Any nodule?' }),
    });
    await expect.poll(() => pipeline.dispatcher.stats().running, { timeout: 10_000 }).toBe(1);

    // What serve-api does on SIGTERM: stop the queue, then the listener.
    await pipeline.dispatcher.stop();
    const closed = api.close();
    const res = await answer;
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('60');
    expect(await res.json()).toEqual({
      error: { code: 'BOT_STOPPING', message: 'quickread is restarting; post again in a minute.' },
    });
    await closed;
  });
});
