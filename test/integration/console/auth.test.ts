import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type ConsoleAdapter, createConsoleAdapter } from '../../../adapters/console/index.ts';
import { createMetrics } from '../../../src/api/metrics.ts';
import { createOpsRoutes } from '../../../src/api/ops.ts';
import { runCli } from '../../../src/cli.ts';
import { type Env, loadConfig } from '../../../src/config.ts';
import { silentLogger } from '../../../src/log.ts';
import { createStubCore } from './stub-core.ts';

/** Console sign-in (issue 18) over real loopback HTTP: token sessions, proxy headers, Host and /metrics. */

const token = 'correct-horse-battery-staple-0123';
const running: ConsoleAdapter[] = [];

async function startConsole(env: Env, clock: () => number = Date.now) {
  const notices: string[] = [];
  const stats = { queued: 0, preparing: 0, running: 0, engineUp: true, serviceMsEwma: 0 };
  const source = { stats: () => stats, events: new EventEmitter() };
  const config = loadConfig(env);
  const metrics = createMetrics(source, { processMetrics: false });
  const adapter = createConsoleAdapter(config, {
    logger: silentLogger,
    port: 0,
    clock,
    extraRoutes: createOpsRoutes({
      metrics,
      source,
      model: 'm',
      metricsPublic: config.METRICS_PUBLIC,
    }),
    onListening: (_url, notice) => {
      if (notice) notices.push(notice);
    },
  });
  running.push(adapter);
  const stub = createStubCore(adapter);
  await adapter.start(stub.core);
  return { adapter, stub, base: adapter.url!.replace(/\/$/, ''), notices };
}

afterEach(async () => {
  for (const adapter of running.splice(0)) await adapter.stop();
});

/** node:http, because fetch() will not send a forged Host or a proxy's headers as given. */
function raw(url: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined> }>(
    (resolve, reject) => {
      const req = request(url, { headers }, (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, headers: res.headers });
      });
      req.on('error', reject);
      req.end();
    },
  );
}

async function signIn(base: string, presented: string): Promise<string> {
  const res = await fetch(`${base}/login?token=${encodeURIComponent(presented)}`, { redirect: 'manual' });
  expect(res.status).toBe(303);
  expect(res.headers.get('location')).toBe('/');
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0]!;
  expect(cookie).toMatch(/^qr_session=v1\./);
  return cookie;
}

describe('console sign-in', () => {
  it('refuses to start on a non-loopback address without auth, before listening (exit 2)', async () => {
    const adapter = createConsoleAdapter(loadConfig({ CONSOLE_HOST: '0.0.0.0' }), {
      logger: silentLogger,
      port: 0,
    });
    const stub = createStubCore(adapter);
    const failure = await adapter.start(stub.core).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 'CONFIG_INVALID', exitCode: 2 });
    expect((failure as { userMessage: string }).userMessage).toMatch(/CONSOLE_AUTH=token/);
    expect(adapter.url).toBeUndefined();
    // A proxy login with nobody trusted to send the header is refused the same way.
    const proxy = createConsoleAdapter(loadConfig({ CONSOLE_AUTH: 'proxy' }), {
      logger: silentLogger,
      port: 0,
    });
    await expect(proxy.start(createStubCore(proxy).core)).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('`quickread start` with CONSOLE_HOST=0.0.0.0 and no auth exits 2 with what to set', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qr-console-open-'));
    const err: string[] = [];
    const code = await runCli(['start'], {
      env: {
        CONSOLE_HOST: '0.0.0.0',
        DATA_DIR: dir,
        LOG_LEVEL: 'silent',
        ENGINE_URL: 'http://127.0.0.1:9/v1',
      },
      io: { out: () => undefined, err: (line) => err.push(line) },
    });
    await rm(dir, { recursive: true, force: true });
    expect(code).toBe(2);
    expect(err.join('\n')).toMatch(/CONSOLE_AUTH=token.*\[CONFIG_INVALID\]/s);
  });

  it('with a token: anonymous page, feed and preview get 401; the link opens a signed session', async () => {
    const { base, stub, notices } = await startConsole({ CONSOLE_AUTH: 'token', CONSOLE_TOKEN: token });
    expect(notices.join('\n')).toContain('/login with CONSOLE_TOKEN');
    expect(notices.join('\n')).not.toContain(token);

    const page = await fetch(`${base}/`);
    expect(page.status).toBe(401);
    expect(await page.text()).toContain('Console token');
    expect((await fetch(`${base}/api/events`)).status).toBe(401);
    expect((await fetch(`${base}/api/previews/p-1.png`)).status).toBe(401);
    // The pseudonym cookie of loopback mode is no longer a way in.
    expect((await fetch(`${base}/`, { headers: { cookie: `qr_console=${'a'.repeat(32)}` } })).status).toBe(
      401,
    );

    const wrong = await fetch(`${base}/login?token=not-the-token`, { redirect: 'manual' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();

    const cookie = await signIn(base, token);
    expect((await fetch(`${base}/`, { headers: { cookie } })).status).toBe(200);

    // A real read arrives and its preview is served only with the session.
    const form = new FormData();
    form.append('channel', 'ed-oncall');
    form.append('question', 'Nodule?');
    form.append('file', new Blob([Buffer.from('\x89PNG preview bytes')], { type: 'image/png' }), 'a.png');
    expect(
      (await fetch(`${base}/api/messages`, { method: 'POST', body: form, headers: { cookie } })).status,
    ).toBe(202);
    await expect.poll(() => stub.downloads.length).toBe(1);
    const controller = new AbortController();
    const events = await fetch(`${base}/api/events`, { headers: { cookie }, signal: controller.signal });
    expect(events.status).toBe(200);
    const reader = events.body!.getReader();
    let text = '';
    const deadline = Date.now() + 10_000;
    while (!/\/api\/previews\/p-[\w-]+\.png/.test(text) && Date.now() < deadline) {
      text += new TextDecoder().decode((await reader.read()).value);
    }
    controller.abort();
    const preview = /\/api\/previews\/p-[\w-]+\.png/.exec(text)![0];
    expect((await fetch(`${base}${preview}`)).status).toBe(401);
    expect((await fetch(`${base}${preview}`, { headers: { cookie } })).status).toBe(200);

    // A tampered session (another id under the old signature) is refused.
    const forged = cookie.replace(/v1\.([0-9a-f])/, (_m, c: string) => `v1.${c === 'a' ? 'b' : 'a'}`);
    expect((await fetch(`${base}/`, { headers: { cookie: forged } })).status).toBe(401);
  });

  it('sessions expire, and changing CONSOLE_TOKEN signs everyone out', async () => {
    let now = Date.UTC(2026, 0, 1, 8);
    const first = await startConsole(
      { CONSOLE_AUTH: 'token', CONSOLE_TOKEN: token, CONSOLE_SESSION_HOURS: '1' },
      () => now,
    );
    const cookie = await signIn(first.base, token);
    expect((await fetch(`${first.base}/`, { headers: { cookie } })).status).toBe(200);
    now += 61 * 60 * 1000;
    expect((await fetch(`${first.base}/`, { headers: { cookie } })).status).toBe(401);

    now = Date.UTC(2026, 0, 1, 8);
    const rotated = await startConsole(
      { CONSOLE_AUTH: 'token', CONSOLE_TOKEN: `${token}-rotated`, CONSOLE_SESSION_HOURS: '1' },
      () => now,
    );
    expect((await fetch(`${rotated.base}/`, { headers: { cookie } })).status).toBe(401);
  });

  it('without CONSOLE_TOKEN prints a one-time sign-in link that works', async () => {
    const { base, notices } = await startConsole({ CONSOLE_AUTH: 'token' });
    const link = /(http:\S+\/login\?token=\S+)/.exec(notices.join('\n'))?.[1];
    expect(link).toBeDefined();
    const res = await fetch(link!, { redirect: 'manual' });
    expect(res.status).toBe(303);
    const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0]!;
    expect((await fetch(`${base}/`, { headers: { cookie } })).status).toBe(200);
  });

  it('with a proxy: believes the user header only from CONSOLE_TRUSTED_PROXY', async () => {
    const trusted = await startConsole({ CONSOLE_AUTH: 'proxy', CONSOLE_TRUSTED_PROXY: '127.0.0.1' });
    expect((await raw(`${trusted.base}/`)).status).toBe(401);
    expect((await raw(`${trusted.base}/`, { 'x-forwarded-user': 'dr.who' })).status).toBe(200);
    expect((await raw(`${trusted.base}/api/events`)).status).toBe(401);

    const elsewhere = await startConsole({ CONSOLE_AUTH: 'proxy', CONSOLE_TRUSTED_PROXY: '10.1.2.3' });
    expect((await raw(`${elsewhere.base}/`, { 'x-forwarded-user': 'dr.who' })).status).toBe(401);
  });

  it('answers 421 to a host name it does not serve (DNS rebinding), and serves SERVER_NAMES', async () => {
    const { base } = await startConsole({
      CONSOLE_AUTH: 'token',
      CONSOLE_TOKEN: token,
      SERVER_NAMES: 'quickread.example.org',
    });
    const port = new URL(base).port;
    expect((await raw(`${base}/`, { host: `evil.example:${port}` })).status).toBe(421);
    expect((await raw(`${base}/login`, { host: `evil.example:${port}` })).status).toBe(421);
    expect((await raw(`${base}/login`, { host: 'quickread.example.org' })).status).toBe(200);
    expect((await raw(`${base}/login`, { host: `127.0.0.1:${port}` })).status).toBe(200);
  });

  it('serves /metrics to loopback only unless METRICS_PUBLIC=true', async () => {
    const closed = await startConsole({ CONSOLE_AUTH: 'token', CONSOLE_TOKEN: token });
    expect((await raw(`${closed.base}/metrics`)).status).toBe(200);
    // Relayed by a proxy on this machine: the caller is somewhere on the network.
    expect((await raw(`${closed.base}/metrics`, { 'x-forwarded-for': '203.0.113.9' })).status).toBe(403);
    const open = await startConsole({ METRICS_PUBLIC: 'true' });
    expect((await raw(`${open.base}/metrics`, { 'x-forwarded-for': '203.0.113.9' })).status).toBe(200);
  });
});
