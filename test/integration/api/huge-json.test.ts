import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics, type Metrics } from '../../../src/api/metrics.ts';
import { createReadPipeline, type ReadPipeline } from '../../../src/api/pipeline.ts';
import { type ApiServer, startApiServer } from '../../../src/api/server.ts';
import { loadConfig } from '../../../src/config.ts';
import { silentLogger } from '../../../src/log.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../../fakes/openai-server.ts';

const MB = 1024 * 1024;
const held = () => {
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
};

describe('POST /v1/visualqa with a JSON body far over the cap (issue 15)', () => {
  let fake: FakeOpenAI;
  let pipeline: ReadPipeline;
  let metrics: Metrics;
  let api: ApiServer;
  let dir: string;

  beforeAll(async () => {
    fake = await startFakeOpenAI();
    dir = await mkdtemp(join(tmpdir(), 'qr-api-huge-'));
    const config = loadConfig({
      ENGINE_URL: fake.url,
      DATA_DIR: dir,
      MAX_UPLOAD_MB: '1',
      BURNED_IN_TEXT: 'flag',
    });
    pipeline = createReadPipeline(config, { logger: silentLogger });
    metrics = createMetrics(pipeline.dispatcher, { processMetrics: false });
    api = await startApiServer(
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
  });

  afterAll(async () => {
    await api?.close();
    metrics?.close();
    await pipeline?.close();
    await fake?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a chunked 256 MB body with 413 INPUT_TOO_LARGE while holding far less than the body', async () => {
    const total = 256 * MB;
    const piece = Buffer.alloc(256 * 1024, 'QUJD'); // valid base64, written again and again
    global.gc?.();
    const before = held();
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, held());
    }, 2);
    let sent = 0;
    const answer = await new Promise<{ status: number; body: string; sent: number }>((resolve, reject) => {
      // No content-length: the cap must hold while the body streams, not only from the header.
      const req = request(`${api.url}/v1/visualqa`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      });
      let answered = false;
      req.on('response', (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), sent });
          req.destroy();
        });
      });
      req.on('error', (error) => {
        if (!answered) reject(error);
      });
      req.write('{"question":"Any nodule?","image":"');
      const pump = () => {
        while (!answered && sent < total) {
          sent += piece.byteLength;
          if (!req.write(piece)) return void req.once('drain', pump);
        }
        if (!answered) req.end('"}');
      };
      pump();
    });
    clearInterval(sampler);
    peak = Math.max(peak, held());

    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body).error.code).toBe('INPUT_TOO_LARGE');
    // Refused near the cap (1 MB decoded, ~1.4 MB of base64), not after the whole body arrived.
    expect(answer.sent).toBeLessThan(total / 4);
    expect(peak - before).toBeLessThan(total / 8);
  });

  it('still reads a normal JSON body whose image is streamed (longer than the short path)', async () => {
    // Noise does not compress, so the PNG's base64 is longer than the short (whole-string) path.
    const noise = randomBytes(200 * 200 * 3);
    const png = await sharp(noise, { raw: { width: 200, height: 200, channels: 3 } })
      .png()
      .toBuffer();
    expect(png.toString('base64').length).toBeGreaterThan(64 * 1024);
    const res = await fetch(`${api.url}/v1/visualqa`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        image: `data:image/png;base64,${png.toString('base64')}`,
        question: 'Any nodule?',
      }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { model: string };
    expect(body.model).toBe('Qwen/Qwen3-VL-8B-Instruct');
    const sent = fake.requests.filter((r) => r.kind === 'read').at(-1)!;
    expect(sent.image?.width).toBeGreaterThan(0);
  });
});
