import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics, type Metrics } from '../../../src/api/metrics.ts';
import { createReadPipeline, type ReadPipeline } from '../../../src/api/pipeline.ts';
import { type ApiServer, startApiServer } from '../../../src/api/server.ts';
import { loadConfig } from '../../../src/config.ts';
import { silentLogger } from '../../../src/log.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../../fakes/openai-server.ts';

/** A synthetic chest-ish image: dark field, two bright lungs-ish blobs (non-blank, so the fake finds things). */
async function syntheticPng(): Promise<Buffer> {
  const blob = await sharp({
    create: { width: 60, height: 120, channels: 3, background: { r: 190, g: 190, b: 190 } },
  })
    .png()
    .toBuffer();
  return sharp({ create: { width: 256, height: 256, channels: 3, background: { r: 20, g: 20, b: 20 } } })
    .composite([
      { input: blob, left: 50, top: 60 },
      { input: blob, left: 150, top: 60 },
    ])
    .png()
    .toBuffer();
}

// biome-ignore lint/suspicious/noExplicitAny: the test inspects arbitrary JSON answers
const json = (res: Response): Promise<any> => res.json();

function metricValue(text: string, name: string, labels = ''): number {
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`${name}${labels} `) || l.startsWith(`${name}${labels}{`));
  return line ? Number(line.split(' ').at(-1)) : Number.NaN;
}

describe('POST /v1/visualqa through prepareImage and the dispatcher', () => {
  let fake: FakeOpenAI;
  let pipeline: ReadPipeline;
  let metrics: Metrics;
  let api: ApiServer;
  let png: Buffer;
  let dir: string;

  beforeAll(async () => {
    fake = await startFakeOpenAI();
    dir = await mkdtemp(join(tmpdir(), 'qr-api-'));
    const config = loadConfig({
      ENGINE_URL: fake.url,
      DATA_DIR: dir,
      MAX_UPLOAD_MB: '2',
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
        promptVersion: 'radiologist@1',
      },
      { port: 0, host: '127.0.0.1' },
    );
    png = await syntheticPng();
  });

  afterAll(async () => {
    await api?.close();
    metrics?.close();
    await pipeline?.close();
    await fake?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const post = (body: string | FormData, type?: string) =>
    fetch(`${api.url}/v1/visualqa`, {
      method: 'POST',
      body,
      ...(type ? { headers: { 'content-type': type } } : {}),
    });
  const reads = () => fake.requests.filter((r) => r.kind === 'read').length;

  it('answers a base64 JSON request with response, confidence, findings and model', async () => {
    const before = reads();
    const res = await post(
      JSON.stringify({ image: png.toString('base64'), question: 'Any nodule?' }),
      'application/json',
    );
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(typeof body.response).toBe('string');
    expect(body.response.length).toBeGreaterThan(0);
    expect(body.model).toBe('Qwen/Qwen3-VL-8B-Instruct');
    expect(body.findings.length).toBeGreaterThan(0);
    expect(body.findings[0].label).toMatch(/nodule/i);
    // Issue 18: the finding's description and the display window the model saw are in the answer.
    expect(body.findings[0].characteristics).toBe('solid, smooth margins');
    expect(body.window).toMatchObject({ source: expect.any(String), description: expect.any(String) });
    expect(body.confidence).toBeGreaterThan(0);
    expect(body.confidence).toBeLessThanOrEqual(1);
    expect(body.disclaimer).toMatch(/not a diagnosis/);
    // A raster image is always scanned for burned-in text; in flag mode nothing is blacked out.
    expect(body.burnedInText).toMatchObject({ regions: expect.any(Number), redacted: 0 });
    expect(reads()).toBe(before + 1);
    // The engine got the prepared PNG, not the caller's bytes: same picture, model-sized.
    const sent = fake.requests.filter((r) => r.kind === 'read').at(-1)!;
    expect(sent.image?.width).toBeGreaterThan(0);
  });

  it('accepts a data URL and a temperature', async () => {
    const res = await post(
      JSON.stringify({
        image: `data:image/png;base64,${png.toString('base64')}`,
        question: 'Effusion?',
        temperature: 0,
      }),
      'application/json',
    );
    expect(res.status).toBe(200);
    expect((await json(res)).findings.length).toBeGreaterThan(0);
    const sent = fake.requests.filter((r) => r.kind === 'read').at(-1)!;
    expect(sent.body.temperature).toBe(0);
  });

  it('accepts a multipart upload', async () => {
    const form = new FormData();
    form.append('question', 'Any nodule?');
    form.append('image', new Blob([png], { type: 'image/png' }), 'scan.png');
    const res = await post(form);
    expect(res.status).toBe(200);
    expect((await json(res)).model).toBe('Qwen/Qwen3-VL-8B-Instruct');
  });

  it('refuses a garbage image, a path string (never reading it) and malformed JSON with 4xx JSON errors', async () => {
    const before = reads();
    const garbage = await post(
      JSON.stringify({
        image: Buffer.from('this is not an image at all, just text').toString('base64'),
        question: 'x?',
      }),
      'application/json',
    );
    expect(garbage.status).toBeGreaterThanOrEqual(400);
    expect(garbage.status).toBeLessThan(500);
    expect((await json(garbage)).error.code).toMatch(/^INPUT_/);

    // A real image on the server's disk: if the API ever opened `image` as a path, this would succeed.
    const onDisk = join(dir, 'scan.png');
    await writeFile(onDisk, png);
    for (const image of ['/etc/passwd', onDisk, `file://${onDisk}`, '../../etc/shadow']) {
      const res = await post(JSON.stringify({ image, question: 'Any nodule?' }), 'application/json');
      expect(res.status).toBe(400);
      const body = await json(res);
      expect(body.error.code).toBe('USAGE');
      expect(body.error.message).toMatch(/base64|path/);
    }

    const malformed = await post('{"image": "abc", "question": ', 'application/json');
    expect(malformed.status).toBe(400);
    expect((await json(malformed)).error.message).toMatch(/not valid JSON/);

    const missing = await post(JSON.stringify({ image: png.toString('base64') }), 'application/json');
    expect(missing.status).toBe(400);
    expect((await json(missing)).error.message).toMatch(/question/);

    const tooBig = await post(
      JSON.stringify({ image: Buffer.alloc(3 * 1024 * 1024, 7).toString('base64'), question: 'x?' }),
      'application/json',
    );
    expect(tooBig.status).toBe(413);

    const wrongType = await post('image=abc', 'application/x-www-form-urlencoded');
    expect(wrongType.status).toBe(400);
    expect(reads()).toBe(before);

    // Still healthy and still reading afterwards.
    const health = await fetch(`${api.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await json(health)).toMatchObject({ ok: true, engine: 'up' });
    const again = await post(
      JSON.stringify({ image: png.toString('base64'), question: 'Any nodule?' }),
      'application/json',
    );
    expect(again.status).toBe(200);
  });

  it('reads `images: [...]` beside the legacy `image` as one study, and lists what it read', async () => {
    const dark = await sharp(png).negate({ alpha: false }).png().toBuffer();
    const res = await post(
      JSON.stringify({
        image: png.toString('base64'),
        images: [dark.toString('base64')],
        question: 'Compare',
      }),
      'application/json',
    );
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.images.map((image: { label: string }) => image.label)).toEqual([
      'Image 1 of 2',
      'Image 2 of 2',
    ]);
    expect(body.images[0]).toMatchObject({ width: 256, height: 256, tokens: 64, window: expect.any(Object) });
    expect(body.notes).toEqual([]);
    const sent = fake.requests.filter((r) => r.kind === 'read').at(-1)!;
    expect(sent.images).toHaveLength(2);

    // A single legacy image says what was read too.
    const single = await json(
      await post(
        JSON.stringify({ image: png.toString('base64'), question: 'Any nodule?' }),
        'application/json',
      ),
    );
    expect(single.images).toEqual([
      expect.objectContaining({ label: 'Image 1 of 1', width: 256, tokens: 64 }),
    ]);
  });

  it('reads several multipart files as one study, in the order posted', async () => {
    const form = new FormData();
    form.append('question', 'Any nodule?');
    form.append('image', new Blob([png], { type: 'image/png' }), 'Doe_Jane_1.png');
    form.append(
      'image',
      new Blob([await sharp(png).resize(128).png().toBuffer()], { type: 'image/png' }),
      'Doe_Jane_2.png',
    );
    const res = await post(form);
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.images.map((image: { width: number }) => image.width)).toEqual([256, 128]);
    expect(JSON.stringify(body)).not.toContain('Doe_Jane');
  });

  it('refuses a zip with a path outside the archive (422 ARCHIVE_UNSAFE) and keeps serving', async () => {
    const before = reads();
    const zip = zipSync({ 'ok.png': new Uint8Array(png), '../../evil.png': new Uint8Array(png) });
    const res = await post(
      JSON.stringify({ image: Buffer.from(zip).toString('base64'), question: 'Any nodule?' }),
      'application/json',
    );
    expect(res.status).toBe(422);
    const body = await json(res);
    expect(body.error.code).toBe('ARCHIVE_UNSAFE');
    expect(body.error.message).not.toContain('evil');
    expect(reads()).toBe(before);
  });

  it('exposes Prometheus metrics whose counters move', async () => {
    const before = await (await fetch(`${api.url}/metrics`)).text();
    const readsBefore = ['routine', 'urgent', 'critical'].reduce(
      (sum, u) => sum + metricValue(before, 'quickread_reads_total', `{urgency="${u}"}`),
      0,
    );
    const res = await post(
      JSON.stringify({ image: png.toString('base64'), question: 'Any nodule?' }),
      'application/json',
    );
    expect(res.status).toBe(200);
    await post('not json', 'application/json');
    const response = await fetch(`${api.url}/metrics`);
    expect(response.headers.get('content-type')).toMatch(/text\/plain/);
    const after = await response.text();
    const readsAfter = ['routine', 'urgent', 'critical'].reduce(
      (sum, u) => sum + metricValue(after, 'quickread_reads_total', `{urgency="${u}"}`),
      0,
    );
    expect(readsAfter).toBe(readsBefore + 1);
    expect(metricValue(after, 'quickread_errors_total', '{code="USAGE"}')).toBeGreaterThan(
      metricValue(before, 'quickread_errors_total', '{code="USAGE"}') || 0,
    );
    expect(metricValue(after, 'quickread_service_seconds_count')).toBeGreaterThan(
      metricValue(before, 'quickread_service_seconds_count'),
    );
    for (const name of [
      'quickread_queue_depth',
      'quickread_in_flight',
      'quickread_engine_up',
      'quickread_oom_downscales_total',
    ]) {
      expect(after).toContain(`# TYPE ${name}`);
    }
    expect(metricValue(after, 'quickread_engine_up')).toBe(1);
  });
});
