import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_FILES_PER_POST } from '../../../adapters/console/http.ts';
import { type ConsoleAdapter, createConsoleAdapter } from '../../../adapters/console/index.ts';
import { loadConfig } from '../../../src/config.ts';
import { silentLogger } from '../../../src/log.ts';
import { createStubCore } from './stub-core.ts';

/**
 * Admission of a several-file console post (issue 17), over real loopback HTTP: every file is held and
 * counted against QUEUE_MAX as a single upload is, and a post that does not fit holds nothing after.
 */
describe('console: several files in one post, against QUEUE_MAX', () => {
  let adapter: ConsoleAdapter;
  let stub: ReturnType<typeof createStubCore>;
  let base: string;
  let cookie: string;

  beforeAll(async () => {
    adapter = createConsoleAdapter(loadConfig({ QUEUE_MAX: '2' }), { logger: silentLogger, port: 0 });
    stub = createStubCore(adapter);
    await adapter.start(stub.core);
    base = adapter.url!.replace(/\/$/, '');
    cookie = ((await fetch(`${base}/`)).headers.get('set-cookie') ?? '').split(';')[0]!;
  });

  afterAll(async () => {
    await adapter?.stop();
  });

  const post = async (count: number) => {
    const form = new FormData();
    form.append('channel', 'radiology');
    form.append('question', 'two views');
    for (let index = 0; index < count; index += 1) {
      form.append('file', new Blob([Buffer.from(`image ${index}`)], { type: 'image/png' }), `v${index}.png`);
    }
    const res = await fetch(`${base}/api/messages`, { method: 'POST', body: form, headers: { cookie } });
    return { status: res.status, body: (await res.json()) as { error?: { code: string; message: string } } };
  };

  it('refuses a post with more files than the queue holds, releasing those it held, then takes one that fits', async () => {
    const before = stub.requests.length;
    const over = await post(3);
    expect(over.body.error?.code).toBe('QUEUE_FULL');
    expect(over.body.error?.message).toMatch(/try again/);
    expect(stub.requests.length).toBe(before);

    // Had the first two of the three stayed held, QUEUE_MAX=2 would refuse this one too.
    const fits = await post(2);
    expect(fits.status).toBe(202);
    const request = stub.requests.at(-1)!;
    expect(request.attachments.map((attachment) => attachment.name)).toEqual(['v0.png', 'v1.png']);
    expect(new Set(request.attachments.map((attachment) => attachment.fileId)).size).toBe(2);
  });

  it(`refuses more than ${MAX_FILES_PER_POST} files in one message with a coded, actionable error`, async () => {
    const before = stub.requests.length;
    const many = await post(MAX_FILES_PER_POST + 1);
    expect(many.status).toBe(400);
    expect(many.body.error?.code).toBe('USAGE');
    expect(many.body.error?.message).toBe(`Attach at most ${MAX_FILES_PER_POST} files to one message.`);
    expect(stub.requests.length).toBe(before);
  });
});
