import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { runServeApi } from '../../../src/commands/serve-api.ts';
import { loadConfig } from '../../../src/config.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../../fakes/openai-server.ts';

/**
 * `serve-api` with the model server down (issue 16): a request waits at most API_WAIT_S, then gets 503
 * with Retry-After and a coded body; a request whose client hangs up while waiting is withdrawn.
 */

let fake: FakeOpenAI | undefined;
let dir: string | undefined;
let stop: AbortController | undefined;
let running: Promise<number> | undefined;
afterEach(async () => {
  stop?.abort();
  await running;
  await fake?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
  fake = undefined;
  dir = undefined;
  running = undefined;
});

async function serveWithEngineDown(waitS: number): Promise<string> {
  fake = await startFakeOpenAI();
  await fake.setMode('down');
  dir = await mkdtemp(join(tmpdir(), 'qr-api-down-'));
  const config = loadConfig({
    ENGINE_URL: fake.url,
    DATA_DIR: dir,
    LOG_LEVEL: 'silent',
    API_WAIT_S: String(waitS),
  });
  const out: string[] = [];
  stop = new AbortController();
  running = runServeApi(
    config,
    { out: (l) => out.push(l), err: () => undefined },
    { port: '0' },
    stop.signal,
  );
  const deadline = Date.now() + 15_000;
  while (!out.some((line) => line.startsWith('engine:')) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  expect(out.join('\n')).toContain('API_WAIT_S=');
  return /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out.join('\n'))![1]!;
}

const image = async () =>
  (
    await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 90, g: 30, b: 30 } } })
      .png()
      .toBuffer()
  ).toString('base64');

const queued = async (url: string) =>
  ((await (await fetch(`${url}/healthz`)).json()) as { queued: number }).queued;

async function until(url: string, predicate: (n: number) => boolean): Promise<number> {
  const deadline = Date.now() + 10_000;
  let n = await queued(url);
  while (!predicate(n) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    n = await queued(url);
  }
  return n;
}

describe('serve-api with the engine down', () => {
  it('answers 503 with Retry-After and a coded body within API_WAIT_S + 1 s', async () => {
    const url = await serveWithEngineDown(1);
    const started = Date.now();
    const res = await fetch(`${url}/v1/visualqa`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ image: await image(), question: 'Any nodule?' }),
      signal: AbortSignal.timeout(20_000),
    });
    const elapsed = Date.now() - started;
    expect(res.status).toBe(503);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('ENGINE_UNAVAILABLE');
    expect(body.error.message).toContain('waited 1 s');
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(2000 + 1000); // API_WAIT_S + 1 s, plus slack for a loaded machine
    // The read was withdrawn, not left in the queue for when the engine returns.
    expect(await queued(url)).toBe(0);
  });

  it('withdraws a waiting request whose client disconnects', async () => {
    const url = await serveWithEngineDown(30);
    const body = JSON.stringify({ image: await image(), question: 'Any nodule?' });
    const target = new URL(`${url}/v1/visualqa`);
    const req = request({
      host: target.hostname,
      port: target.port,
      path: target.pathname,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
    });
    req.on('error', () => undefined);
    req.end(body);
    expect(await until(url, (n) => n === 1)).toBe(1);
    req.destroy();
    expect(await until(url, (n) => n === 0)).toBe(0);
  });
});
