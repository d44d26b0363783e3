import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/api/metrics.ts';
import { runDoctor } from '../../../src/commands/doctor.ts';
import { loadConfig } from '../../../src/config.ts';
import type { InferenceResult } from '../../../src/core/types.ts';
import { createDispatcher, type Dispatcher, type FinishedEvent } from '../../../src/dispatch/index.ts';
import { createEngines } from '../../../src/engine/index.ts';
import { silentLogger } from '../../../src/log.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../../fakes/openai-server.ts';
import { preparedImage } from './image.ts';

/**
 * Several GPU endpoints (ENGINE_URLS) behind one dispatcher, against two real loopback OpenAI servers.
 * The fakes read with no findings, so each chat request is one read (no probes) and the server's own
 * peak of requests in flight is the endpoint's peak of reads.
 */
let fakes: FakeOpenAI[] = [];
let dispatcher: Dispatcher | undefined;
let dataDir: string | undefined;

afterEach(async () => {
  await dispatcher?.stop();
  dispatcher = undefined;
  for (const fake of fakes) await fake.close();
  fakes = [];
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
  dataDir = undefined;
});

async function cluster(delays: [number, number], urls: (a: string, b: string) => string) {
  fakes = [
    await startFakeOpenAI({ findings: [], delayMs: delays[0] }),
    await startFakeOpenAI({ findings: [], delayMs: delays[1] }),
  ];
  dataDir = await mkdtemp(join(tmpdir(), 'qr-endpoints-'));
  const config = loadConfig({
    ENGINE_URLS: urls(fakes[0]!.url, fakes[1]!.url),
    DATA_DIR: dataDir,
    ENGINE_TIMEOUT_MS: '10000',
    QUEUE_MAX: '100',
  });
  const engines = createEngines(config, { logger: silentLogger, retry: { attempts: 1, baseMs: 5 } });
  const d = createDispatcher({ engines, config, logger: silentLogger, healthPollMs: { min: 20, max: 50 } });
  dispatcher = d;
  const started = new Map<string, string[]>();
  const finished: FinishedEvent[] = [];
  d.events.on('started', (event: { id: string; endpoint: string }) => {
    started.set(event.id, [...(started.get(event.id) ?? []), event.endpoint]);
  });
  d.events.on('finished', (event: FinishedEvent) => finished.push(event));
  const image = await preparedImage(96, 96);
  const read = (id: string) =>
    d.schedule({
      id,
      userId: `U-${id}`,
      channelId: `test:${id}`,
      priority: 0,
      input: { image, question: 'q', history: [] },
    });
  return { d, engines, started, finished, read, labels: engines.map((engine) => engine.label) };
}

const reads = (fake: FakeOpenAI) => fake.requests.filter((request) => request.kind === 'read').length;

describe('several GPU endpoints (ENGINE_URLS)', () => {
  it('spreads reads by load relative to each endpoint and never exceeds an endpoint’s slots', async () => {
    const { d, read } = await cluster([80, 80], (a, b) => `${a}#concurrency=3,${b}#concurrency=1`);
    expect(d.stats().endpoints?.map((endpoint) => endpoint.concurrency)).toEqual([3, 1]);
    const results = await Promise.all(Array.from({ length: 12 }, (_, index) => read(`r${index}`)));
    expect(results).toHaveLength(12);
    const [a, b] = fakes as [FakeOpenAI, FakeOpenAI];
    expect(reads(a) + reads(b)).toBe(12);
    // Both took work, the 3-slot endpoint about three times as much.
    expect(reads(b)).toBeGreaterThan(0);
    expect(reads(a)).toBeGreaterThan(reads(b));
    expect(a.peakInFlight).toBeLessThanOrEqual(3);
    expect(b.peakInFlight).toBe(1);
    expect(a.peakInFlight).toBeGreaterThan(1);
  });

  it('retries a read in flight on an endpoint that goes down on the other, which takes all new work', async () => {
    const { d, read, started, finished, labels } = await cluster(
      [400, 40],
      (a, b) => `${a}#concurrency=1,${b}#concurrency=1`,
    );
    const [a, b] = fakes as [FakeOpenAI, FakeOpenAI];
    const pending: Array<Promise<InferenceResult>> = [read('first'), read('second')];
    // One read on each endpoint: wait until the slow endpoint A holds one, then take A down.
    const deadline = Date.now() + 5000;
    while (a.requests.filter((request) => request.kind === 'read').length === 0) {
      if (Date.now() > deadline) throw new Error('endpoint A never got a read');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const onA = [...started].find(([, endpoints]) => endpoints[0] === labels[0])![0];
    await a.setMode('down');
    for (let index = 0; index < 4; index += 1) pending.push(read(`later${index}`));
    const results = await Promise.all(pending);
    expect(results).toHaveLength(6);
    // The read cut off on A was retried on B and answered there, once.
    expect(started.get(onA)).toEqual([labels[0], labels[1]]);
    expect(finished.filter((event) => event.id === onA).map((event) => event.endpoint)).toEqual([labels[1]]);
    expect(reads(b)).toBe(6);
    expect(b.peakInFlight).toBe(1);
    const endpoints = d.stats().endpoints!;
    expect(endpoints.map((endpoint) => endpoint.up)).toEqual([false, true]);
    expect(d.stats().engineUp).toBe(true);
    // Per-endpoint metrics name each server by its label.
    const metrics = createMetrics(d, { processMetrics: false });
    const text = await metrics.text();
    metrics.close();
    expect(text).toContain(`quickread_engine_up{endpoint="${labels[0]}"} 0`);
    expect(text).toContain(`quickread_engine_up{endpoint="${labels[1]}"} 1`);
    expect(text).toContain(`quickread_engine_in_flight{endpoint="${labels[1]}"} 0`);
    expect(text).toContain(`quickread_engine_concurrency{endpoint="${labels[0]}"} 1`);
  });

  it('brings an endpoint back into the rotation when its health returns', async () => {
    const { d, read, labels, started } = await cluster(
      [30, 30],
      (a, b) => `${a}#concurrency=1,${b}#concurrency=1`,
    );
    const [a] = fakes as [FakeOpenAI, FakeOpenAI];
    await a.setMode('down');
    await read('probe-down');
    await read('probe-down-2');
    const upAgain = new Promise((resolve) =>
      d.events.on('endpoint', (event: { up: boolean }) => event.up && resolve(true)),
    );
    // The first read that hit A marked it down; its health is polled and it comes back.
    await a.setMode('ok');
    await upAgain;
    await Promise.all([read('x1'), read('x2'), read('x3'), read('x4')]);
    const onA = [...started.values()].filter((endpoints) => endpoints.at(-1) === labels[0]);
    expect(onA.length).toBeGreaterThan(0);
  });
});

describe('doctor with several endpoints', () => {
  it('checks every endpoint, names the one that is down, and never prints URL credentials', async () => {
    fakes = [await startFakeOpenAI(), await startFakeOpenAI({ model: 'other/model' })];
    const [a, b] = fakes as [FakeOpenAI, FakeOpenAI];
    dataDir = await mkdtemp(join(tmpdir(), 'qr-endpoints-'));
    const withSecret = b.url.replace('http://', 'http://radiology:s3cret-pw@');
    const config = loadConfig({
      ENGINE_URLS: `${a.url},${withSecret}#model=other/model&concurrency=2`,
      DATA_DIR: dataDir,
    });
    const out: string[] = [];
    const io = { out: (line: string) => out.push(line), err: (line: string) => out.push(line) };
    expect(await runDoctor(config, io)).toBe(0);
    const text = out.join('\n');
    expect(text).toContain(`${a.url} serves Qwen/Qwen3-VL-8B-Instruct`);
    expect(text).toContain(`${b.url} serves other/model`);
    expect(text).not.toContain('s3cret');
    // The credentials travelled as HTTP Basic, not in the URL.
    const basic = Buffer.from('radiology:s3cret-pw').toString('base64');
    expect(b.requests.find((request) => request.path === '/v1/models')?.headers.authorization).toBe(
      `Basic ${basic}`,
    );

    await a.setMode('down');
    out.length = 0;
    expect(await runDoctor(config, io)).toBe(1);
    expect(out.join('\n')).toContain(`no model server answers at ${a.url}`);
    expect(out.join('\n')).toContain(`${b.url} serves other/model`);
  });

  it('refuses a malformed ENGINE_URLS with the entry and the fix', () => {
    const problem = (value: string) => {
      try {
        loadConfig({ ENGINE_URLS: value });
      } catch (error) {
        return (error as { code: string; userMessage: string }).userMessage;
      }
      return 'accepted';
    };
    expect(problem('http://a:8000/v1#concurrency=0')).toMatch(/ENGINE_URLS: entry 1: concurrency must be/);
    expect(problem('http://a:8000/v1,http://b/v1#gpu=2')).toMatch(/entry 2 has an unknown option "gpu"/);
    expect(problem('http://a/v1,http://a/v1')).toMatch(/listed twice/);
    expect(problem('ftp://a/v1')).toMatch(/must be an http\(s\) URL/);
  });
});
