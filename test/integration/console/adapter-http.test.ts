import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConsoleAdapter, createConsoleAdapter } from '../../../adapters/console/index.ts';
import { loadConfig } from '../../../src/config.ts';
import { silentLogger } from '../../../src/log.ts';
import { createStubCore } from './stub-core.ts';

/** The console's HTTP surface over real loopback HTTP, with a scripted core double behind it. */
describe('console adapter over HTTP', () => {
  let adapter: ConsoleAdapter;
  let stub: ReturnType<typeof createStubCore>;
  let base: string;
  let cookie: string;
  let extraHits = 0;

  beforeAll(async () => {
    adapter = createConsoleAdapter(loadConfig({ MAX_UPLOAD_MB: '1' }), {
      logger: silentLogger,
      port: 0,
      extraRoutes: async (req, res) => {
        if (req.url !== '/healthz') return false;
        extraHits += 1;
        res.end('ok');
        return true;
      },
    });
    stub = createStubCore(adapter);
    await adapter.start(stub.core);
    base = adapter.url!.replace(/\/$/, '');
    const page = await fetch(`${base}/`);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    cookie = (page.headers.get('set-cookie') ?? '').split(';')[0]!;
    expect(cookie).toMatch(/^qr_console=[0-9a-f]{32}$/);
  });

  afterAll(async () => {
    await adapter?.stop();
  });

  /** fetch() may not set Host; node:http can, as a rebinding browser would. */
  const statusWithHost = (host: string) =>
    new Promise<number>((resolve, reject) => {
      const req = request(`${base}/`, { headers: { host } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });

  const post = (form: FormData, headers: Record<string, string> = { cookie }) =>
    fetch(`${base}/api/messages`, { method: 'POST', body: form, headers });

  const form = (fields: Record<string, string>, file?: Buffer) => {
    const body = new FormData();
    for (const [key, value] of Object.entries(fields)) body.append(key, value);
    if (file) body.append('file', new Blob([file], { type: 'image/png' }), 'DOE^JANE 1961.png');
    return body;
  };

  it('binds to 127.0.0.1 and serves extra routes (main mounts /healthz and /metrics there)', async () => {
    expect(adapter.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(await (await fetch(`${base}/healthz`)).text()).toBe('ok');
    expect(extraHits).toBe(1);
  });

  it('hands an upload to the core as a pseudonymous console request and serves its bytes from memory', async () => {
    const bytes = Buffer.from('\x89PNG fake image bytes for the core double');
    const res = await post(form({ channel: 'ed-oncall', question: 'Nodule?' }, bytes));
    expect(res.status).toBe(202);
    const request = stub.requests.at(-1)!;
    expect(request.platform).toBe('console');
    expect(request.userId).toMatch(/^console:[0-9a-f]{16}$/);
    expect(request.userId).not.toContain(cookie.split('=')[1]!.slice(0, 16));
    expect(request.thread.channelId).toBe('ed-oncall');
    expect(request.attachments[0]!.url).toMatch(/^console-upload:/);
    await expect.poll(() => stub.downloads.length).toBe(1);
    expect(stub.downloads[0]!.equals(bytes)).toBe(true);
  });

  it('streams escaped messages over Server-Sent Events, without the file name', async () => {
    const controller = new AbortController();
    const events = await fetch(`${base}/api/events`, { headers: { cookie }, signal: controller.signal });
    expect(events.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = events.body!.getReader();
    await post(
      form(
        { channel: 'radiology', question: '<img src=x onerror=alert(1)> pneumothorax?' },
        Buffer.from('x'.repeat(64)),
      ),
    );
    let text = '';
    const deadline = Date.now() + 5000;
    const question = '&lt;img src=x onerror=alert(1)&gt; pneumothorax?';
    // Until the card for this message arrived (the snapshot may already hold earlier cards).
    while (
      !(text.includes(question) && text.indexOf('"kind":"read"', text.indexOf(question)) > 0) &&
      Date.now() < deadline
    ) {
      const { value } = await reader.read();
      text += new TextDecoder().decode(value);
    }
    controller.abort();
    expect(text).toContain('event: snapshot');
    expect(text).toContain('&lt;img src=x onerror=alert(1)&gt; pneumothorax?');
    expect(text).not.toContain('<img src=x');
    expect(text).not.toContain('DOE^JANE');
    expect(text).toContain('"kind":"read"');
  });

  it('refuses posts without the cookie, from another origin, to unknown channels, and uploads over the cap', async () => {
    const before = stub.requests.length;
    expect((await post(form({ channel: 'ed-oncall', question: 'x' }), {})).status).toBe(401);
    const cross = await post(form({ channel: 'ed-oncall', question: 'x' }), {
      cookie,
      origin: 'http://evil.example',
    });
    expect(cross.status).toBe(403);
    expect((await post(form({ channel: 'random', question: 'x' }))).status).toBe(400);
    const big = await post(form({ channel: 'ed-oncall', question: 'x' }, Buffer.alloc(1024 * 1024 + 10)));
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { message: string } }).error.message).toMatch(/MAX_UPLOAD_MB/);
    expect((await post(form({ channel: 'ed-oncall', question: '' }))).status).toBe(400);
    expect(stub.requests.length).toBe(before);
    expect((await fetch(`${base}/api/previews/nope.png`)).status).toBe(401);
    expect((await fetch(`${base}/api/previews/nope.png`, { headers: { cookie } })).status).toBe(404);
    // DNS rebinding: a page on another host name pointed at 127.0.0.1 is not served at all.
    const port = new URL(base).port;
    expect(await statusWithHost(`evil.example:${port}`)).toBe(421);
    expect(await statusWithHost(`localhost:${port}`)).toBe(200);
  });

  it('shows the core’s refusals and the no-image hint in the thread, and routes card buttons to the core', async () => {
    await post(form({ channel: 'teaching', question: 'refuse me' }, Buffer.from('y'.repeat(32))));
    await post(form({ channel: 'teaching', question: 'just text' }));
    const controller = new AbortController();
    const events = await fetch(`${base}/api/events`, { headers: { cookie }, signal: controller.signal });
    const { value } = await events.body!.getReader().read();
    controller.abort();
    const snapshot = new TextDecoder().decode(value);
    expect(snapshot).toContain('Slow down.');
    expect(snapshot).toContain('RATE_LIMITED');
    expect(snapshot).toContain('Attach an image to start a read');

    const ack = await fetch(`${base}/api/jobs/job-1/ack`, {
      method: 'POST',
      headers: { cookie, origin: base },
      body: '{}',
    });
    expect(ack.status).toBe(200);
    const vote = await fetch(`${base}/api/jobs/job-1/down`, {
      method: 'POST',
      headers: { cookie },
      body: '{}',
    });
    expect(vote.status).toBe(200);
    expect(stub.acks).toEqual(['job-1']);
    expect(stub.votes).toEqual(['job-1:down']);
  });

  it('answers "help", "status" and "model" in the composer like /quickread, to the asker only', async () => {
    const before = stub.requests.length;
    for (const word of ['help', 'Status', '/quickread model']) {
      expect((await post(form({ channel: 'radiology', question: word }))).status).toBe(202);
    }
    expect(stub.commands.map((c) => [c.kind, c.platform, c.channelId])).toEqual([
      ['help', 'console', 'radiology'],
      ['status', 'console', 'radiology'],
      ['model', 'console', 'radiology'],
    ]);
    // Not a read request, and not something everyone on the page sees.
    expect(stub.requests.length).toBe(before);
    const snapshotFor = async (who: string) => {
      const controller = new AbortController();
      const events = await fetch(`${base}/api/events`, {
        headers: { cookie: who },
        signal: controller.signal,
      });
      const { value } = await events.body!.getReader().read();
      controller.abort();
      return new TextDecoder().decode(value);
    };
    expect(await snapshotFor(cookie)).toContain('Answer to model');
    const other = (await fetch(`${base}/`)).headers.get('set-cookie')!.split(';')[0]!;
    expect(await snapshotFor(other)).not.toContain('Answer to model');
  });
});
