import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/api/metrics.ts';
import { startApiServer } from '../../../src/api/server.ts';
import { loadConfig } from '../../../src/config.ts';
import { createDispatcher } from '../../../src/dispatch/index.ts';
import { captureLogger } from '../../helpers/capture-log.ts';
import { createTestEngine, fakePrepare } from '../../helpers/core-doubles.ts';

describe('POST /v1/visualqa admission', () => {
  it('counts bodies being received as queued: beyond QUEUE_MAX refused at once with 503, one warning line', async () => {
    const config = loadConfig({ QUEUE_MAX: '5', DATA_DIR: '/nonexistent-not-used' });
    const log = captureLogger('warn');
    const engine = createTestEngine({ hold: true });
    const dispatcher = createDispatcher({ engine, config, logger: log.logger });
    const metrics = createMetrics(dispatcher, { processMetrics: false });
    const api = await startApiServer(
      { config, logger: log.logger, dispatcher, metrics, prepare: fakePrepare, model: 'm' },
      { port: 0, host: '127.0.0.1' },
    );
    try {
      const post = async (index: number) => {
        const image = Buffer.alloc(256 * 1024, index % 251).toString('base64');
        const res = await fetch(`${api.url}/v1/visualqa`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ image, question: `q${index}` }),
        });
        return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() };
      };
      const pending = Array.from({ length: 40 }, (_, index) => post(index));
      const releasing = setInterval(() => engine.releaseAll(), 200);
      const results = await Promise.all(pending);
      clearInterval(releasing);
      const refused = results.filter((result) => result.status === 503);
      expect(refused.length).toBeGreaterThan(0);
      for (const result of refused) {
        expect(result.body).toMatchObject({ error: { code: 'QUEUE_FULL' } });
        expect(Number(result.retryAfter)).toBeGreaterThan(0);
      }
      // Everything else was read: nothing accepted was lost.
      expect(results.filter((result) => result.status !== 503 && result.status !== 200)).toEqual([]);
      const lines = log.lines().filter((line) => line.includes('visualqa refused'));
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0]!)).toMatchObject({ code: 'QUEUE_FULL', count: 1 });
    } finally {
      await api.close();
      metrics.close();
      await dispatcher.stop();
    }
  }, 60_000);
});
