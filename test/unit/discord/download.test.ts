import { describe, expect, it } from 'vitest';
import { downloadAttachment, isAllowedUrl, normaliseOrigins } from '../../../adapters/discord/download.ts';
import { AppError } from '../../../src/errors.ts';

/** A fetch double: no network; records what would have been sent. */
function fakeFetch(respond: (url: string) => Response) {
  const seen: { url: string; init: RequestInit | undefined }[] = [];
  const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input);
    seen.push({ url, init });
    return respond(url);
  }) as typeof globalThis.fetch;
  return { fetch, seen };
}

const CDN = 'https://cdn.discordapp.com';
const options = (fetch: typeof globalThis.fetch, maxBytes = 1024) => ({
  allowedOrigins: [CDN],
  maxBytes,
  fetch,
});

async function failure(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return error as AppError;
  }
  throw new Error('expected a failure');
}

describe('discord attachment download', () => {
  it('fetches an allowed URL with no Authorization header or credentials', async () => {
    const { fetch, seen } = fakeFetch(() => new Response(new Uint8Array([1, 2, 3]), { status: 200 }));
    const bytes = await downloadAttachment(`${CDN}/attachments/1/2/a.png?ex=1&is=2&hm=3`, options(fetch));
    expect([...bytes]).toEqual([1, 2, 3]);
    expect(seen).toHaveLength(1);
    const headers = new Headers(seen[0]!.init?.headers);
    expect(headers.has('authorization')).toBe(false);
    expect(seen[0]!.init?.redirect).toBe('manual');
  });

  it('refuses other origins — other host, scheme, port or user-info — without fetching', async () => {
    const { fetch, seen } = fakeFetch(() => new Response('x'));
    for (const url of [
      'https://evil.example/attachments/a.png',
      'http://cdn.discordapp.com/a.png',
      'https://cdn.discordapp.com:8443/a.png',
      'https://cdn.discordapp.com.evil.example/a.png',
      'https://user:pw@cdn.discordapp.com/a.png',
      'not a url',
    ]) {
      expect((await failure(downloadAttachment(url, options(fetch)))).code).toBe('DOWNLOAD_FORBIDDEN_HOST');
    }
    expect(seen).toHaveLength(0);
  });

  it('follows redirects only within the allowed origins', async () => {
    const inside = fakeFetch((url) =>
      url.includes('first')
        ? new Response(null, { status: 302, headers: { location: '/second.png' } })
        : new Response(new Uint8Array([9]), { status: 200 }),
    );
    expect([...(await downloadAttachment(`${CDN}/first.png`, options(inside.fetch)))]).toEqual([9]);
    expect(inside.seen.map((s) => s.url)).toEqual([`${CDN}/first.png`, `${CDN}/second.png`]);

    const outside = fakeFetch(
      () => new Response(null, { status: 302, headers: { location: 'https://evil.example/x' } }),
    );
    expect((await failure(downloadAttachment(`${CDN}/first.png`, options(outside.fetch)))).code).toBe(
      'DOWNLOAD_FORBIDDEN_HOST',
    );
    expect(outside.seen).toHaveLength(1);
  });

  it('caps the size from the declared length and while streaming', async () => {
    const declared = fakeFetch(
      () => new Response(new Uint8Array(10), { headers: { 'content-length': '5000' } }),
    );
    expect((await failure(downloadAttachment(`${CDN}/a`, options(declared.fetch)))).code).toBe(
      'INPUT_TOO_LARGE',
    );

    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 1;
        controller.enqueue(new Uint8Array(300));
      },
    });
    const streamed = fakeFetch(() => new Response(endless, { status: 200 }));
    expect((await failure(downloadAttachment(`${CDN}/a`, options(streamed.fetch)))).code).toBe(
      'INPUT_TOO_LARGE',
    );
    expect(pulled).toBeLessThan(10);
  });

  it('maps HTTP failures: expired link, server error, HTML page', async () => {
    const gone = await failure(
      downloadAttachment(`${CDN}/a`, options(fakeFetch(() => new Response('', { status: 404 })).fetch)),
    );
    expect(gone.code).toBe('DOWNLOAD_FAILED');
    expect(gone.retryable).toBe(false);
    expect(gone.userMessage).toMatch(/expired/);
    const busy = await failure(
      downloadAttachment(`${CDN}/a`, options(fakeFetch(() => new Response('', { status: 503 })).fetch)),
    );
    expect(busy.retryable).toBe(true);
    const html = fakeFetch(
      () => new Response('<html>', { headers: { 'content-type': 'text/html; charset=utf-8' } }),
    );
    expect((await failure(downloadAttachment(`${CDN}/a`, options(html.fetch)))).code).toBe('INPUT_HTML');
  });

  it('normalises configured origins', () => {
    const allowed = normaliseOrigins([
      'https://cdn.discordapp.com/',
      'https://media.discordapp.net',
      '::bad',
    ]);
    expect([...allowed]).toEqual(['https://cdn.discordapp.com', 'https://media.discordapp.net']);
    expect(isAllowedUrl('https://media.discordapp.net/attachments/x.png?width=10', allowed)).toBe(true);
  });
});
