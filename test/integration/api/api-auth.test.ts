import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../src/cli.ts';
import { runServeApi } from '../../../src/commands/serve-api.ts';
import { loadConfig } from '../../../src/config.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../../fakes/openai-server.ts';

/** `quickread serve-api` exposed safely (issue 18): API_TOKEN, Host names, /metrics on loopback. */

const apiToken = 'api-token-for-tests-0123456789';

function withHost(url: string, host: string, headers: Record<string, string> = {}) {
  return new Promise<number>((resolve, reject) => {
    const req = request(url, { headers: { host, ...headers } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('serve-api beyond loopback', () => {
  it('refuses to start on a non-loopback address without API_TOKEN (exit 2), before listening', async () => {
    const err: string[] = [];
    const code = await runCli(['serve-api', '--host', '0.0.0.0', '--port', '0'], {
      env: { LOG_LEVEL: 'silent', ENGINE_URL: 'http://127.0.0.1:9/v1' },
      io: { out: () => undefined, err: (line) => err.push(line) },
    });
    expect(code).toBe(2);
    expect(err.join('\n')).toContain('API_TOKEN');
    expect(err.join('\n')).toContain('[CONFIG_INVALID]');
  });
});

describe('serve-api with API_TOKEN', () => {
  let fake: FakeOpenAI;
  let dir: string;
  let url: string;
  let png: Buffer;
  const stop = new AbortController();
  let running: Promise<number>;

  beforeAll(async () => {
    fake = await startFakeOpenAI();
    dir = await mkdtemp(join(tmpdir(), 'qr-api-auth-'));
    png = await sharp({
      create: { width: 128, height: 128, channels: 3, background: { r: 40, g: 40, b: 40 } },
    })
      .png()
      .toBuffer();
    const out: string[] = [];
    const config = loadConfig({
      ENGINE_URL: fake.url,
      DATA_DIR: dir,
      LOG_LEVEL: 'silent',
      API_TOKEN: apiToken,
      SERVER_NAMES: 'api.example.org',
      BURNED_IN_TEXT: 'flag',
    });
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
    url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out.join('\n'))![1]!;
  });

  afterAll(async () => {
    stop.abort();
    await running;
    await fake.close();
    await rm(dir, { recursive: true, force: true });
  });

  const ask = (headers: Record<string, string>) =>
    fetch(`${url}/v1/visualqa`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ image: png.toString('base64'), question: 'Any pneumothorax?' }),
    });

  it('reads only for a caller with the bearer token', async () => {
    const anonymous = await ask({});
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe('NOT_ALLOWED');
    expect((await ask({ authorization: 'Bearer wrong-token' })).status).toBe(401);
    const read = await ask({ authorization: `Bearer ${apiToken}` });
    expect(read.status).toBe(200);
    expect(await read.json()).toHaveProperty('disclaimer');
    expect(fake.requests.some((r) => r.kind === 'read')).toBe(true);
  });

  it('answers 421 to a host name it does not serve, and keeps /metrics on loopback', async () => {
    const port = new URL(url).port;
    expect(await withHost(`${url}/healthz`, `rebound.example:${port}`)).toBe(421);
    expect(await withHost(`${url}/healthz`, 'api.example.org')).toBe(200);
    expect(await withHost(`${url}/metrics`, `127.0.0.1:${port}`)).toBe(200);
    expect(await withHost(`${url}/metrics`, `127.0.0.1:${port}`, { 'x-forwarded-for': '198.51.100.4' })).toBe(
      403,
    );
  });
});
