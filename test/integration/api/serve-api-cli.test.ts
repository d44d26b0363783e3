import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runServeApi } from '../../../src/commands/serve-api.ts';
import { loadConfig } from '../../../src/config.ts';
import { startFakeOpenAI } from '../../fakes/openai-server.ts';

describe('quickread serve-api command', () => {
  it('listens on 127.0.0.1, reports the engine, serves /healthz and stops cleanly', async () => {
    const fake = await startFakeOpenAI();
    const dir = await mkdtemp(join(tmpdir(), 'qr-serve-'));
    const out: string[] = [];
    const stop = new AbortController();
    const config = loadConfig({ ENGINE_URL: fake.url, DATA_DIR: dir, LOG_LEVEL: 'silent' });
    const running = runServeApi(
      config,
      { out: (l) => out.push(l), err: () => undefined },
      { port: '0' },
      stop.signal,
    );
    const deadline = Date.now() + 10_000;
    while (!out.some((line) => line.startsWith('engine:')) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out.join('\n'))?.[1];
    expect(url).toBeDefined();
    expect(out.join('\n')).toContain(`engine: openai reachable at ${fake.url}`);
    const health = await fetch(`${url}/healthz`);
    expect(await health.json()).toMatchObject({ ok: true, model: 'Qwen/Qwen3-VL-8B-Instruct' });
    stop.abort();
    expect(await running).toBe(0);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    await fake.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a bad --port with a usage error', async () => {
    await expect(
      runServeApi(loadConfig({}), { out: () => undefined, err: () => undefined }, { port: 'http' }),
    ).rejects.toMatchObject({ code: 'USAGE' });
  });
});
