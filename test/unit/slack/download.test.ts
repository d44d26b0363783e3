import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSlackDownloader } from '../../../adapters/slack/download.ts';
import type { AttachmentRef } from '../../../src/core/types.ts';

/** Real HTTP on 127.0.0.1: an allowed "files.slack.com" and a second, foreign host. */

type Route = (req: IncomingMessage, res: ServerResponse) => void;
interface Host {
  origin: string;
  seen: Array<{ path: string; authorization?: string }>;
  routes: Map<string, Route>;
  server: Server;
}

async function startHost(): Promise<Host> {
  const host: Host = { origin: '', seen: [], routes: new Map(), server: createServer() };
  host.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    host.seen.push({ path, authorization: req.headers.authorization });
    const route = host.routes.get(path);
    if (route) route(req, res);
    else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => host.server.listen(0, '127.0.0.1', r));
  host.origin = `http://127.0.0.1:${(host.server.address() as AddressInfo).port}`;
  return host;
}

const TOKEN = 'xoxb-download-test';
const PNG = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.alloc(2048, 7)]);
let slack: Host;
let foreign: Host;

beforeAll(async () => {
  slack = await startHost();
  foreign = await startHost();
});
afterAll(async () => {
  for (const h of [slack, foreign]) {
    h.server.closeAllConnections();
    await new Promise((r) => h.server.close(r));
  }
});
beforeEach(() => {
  slack.seen.length = 0;
  foreign.seen.length = 0;
  slack.routes.clear();
  foreign.routes.clear();
});

const attachment = (url: string, extra: Partial<AttachmentRef> = {}): AttachmentRef => ({
  platform: 'slack',
  fileId: 'F1',
  url,
  name: 'scan.png',
  ...extra,
});
const downloader = (maxBytes = 1024 * 1024) =>
  createSlackDownloader({ token: TOKEN, allowedOrigins: [slack.origin], maxBytes });
const signal = () => AbortSignal.timeout(5000);

const sendPng: Route = (_req, res) => {
  res.writeHead(200, { 'content-type': 'image/png' });
  res.end(PNG);
};

describe('slack download', () => {
  it('fetches from an allowed origin with the bot token', async () => {
    slack.routes.set('/files-pri/a.png', sendPng);
    const bytes = await downloader()(attachment(`${slack.origin}/files-pri/a.png`), signal());
    expect(bytes.equals(PNG)).toBe(true);
    expect(slack.seen).toEqual([{ path: '/files-pri/a.png', authorization: `Bearer ${TOKEN}` }]);
  });

  it('refuses a URL on another origin without contacting it', async () => {
    foreign.routes.set('/a.png', sendPng);
    await expect(downloader()(attachment(`${foreign.origin}/a.png`), signal())).rejects.toMatchObject({
      code: 'DOWNLOAD_FORBIDDEN_HOST',
    });
    expect(foreign.seen).toHaveLength(0);
  });

  it('treats the same host on another port or scheme as another origin', async () => {
    const sameHostOtherPort = slack.origin.replace(/:\d+$/, `:${new URL(foreign.origin).port}`);
    await expect(downloader()(attachment(`${sameHostOtherPort}/x`), signal())).rejects.toMatchObject({
      code: 'DOWNLOAD_FORBIDDEN_HOST',
    });
    await expect(
      downloader()(attachment(slack.origin.replace('http:', 'https:')), signal()),
    ).rejects.toMatchObject({ code: 'DOWNLOAD_FORBIDDEN_HOST' });
    expect(foreign.seen).toHaveLength(0);
  });

  it('follows a redirect within the allow-list and refuses one that leaves it, never sending the token off-list', async () => {
    slack.routes.set('/hop', (_req, res) => {
      res.writeHead(302, { location: '/files-pri/b.png' });
      res.end();
    });
    slack.routes.set('/files-pri/b.png', sendPng);
    expect((await downloader()(attachment(`${slack.origin}/hop`), signal())).equals(PNG)).toBe(true);

    slack.routes.set('/away', (_req, res) => {
      res.writeHead(307, { location: `${foreign.origin}/stolen` });
      res.end();
    });
    foreign.routes.set('/stolen', sendPng);
    await expect(downloader()(attachment(`${slack.origin}/away`), signal())).rejects.toMatchObject({
      code: 'DOWNLOAD_FORBIDDEN_HOST',
    });
    expect(foreign.seen).toHaveLength(0);
  });

  it('turns Slack’s sign-in page into the files:read hint (by content type and by sniffing)', async () => {
    slack.routes.set('/login', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<html><body>Sign in</body></html>');
    });
    slack.routes.set('/sniffed', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end('\n  <!DOCTYPE html><html><body>Sign in</body></html>');
    });
    for (const path of ['/login', '/sniffed']) {
      const error = await downloader()(attachment(`${slack.origin}${path}`), signal()).catch(
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ code: 'INPUT_HTML' });
      expect((error as { userMessage: string }).userMessage).toContain('files:read');
    }
  });

  it('caps the size while streaming, even without a Content-Length', async () => {
    slack.routes.set('/big', (_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png', 'transfer-encoding': 'chunked' });
      let sent = 0;
      const push = () => {
        if (sent >= 64 || res.destroyed) return res.end();
        sent += 1;
        res.write(Buffer.alloc(64 * 1024, 1), () => setImmediate(push));
      };
      push();
    });
    await expect(downloader(256 * 1024)(attachment(`${slack.origin}/big`), signal())).rejects.toMatchObject({
      code: 'INPUT_TOO_LARGE',
    });
    await expect(
      downloader(1024)(attachment(`${slack.origin}/never`, { sizeBytes: 4096 }), signal()),
    ).rejects.toMatchObject({ code: 'INPUT_TOO_LARGE' });
    expect(slack.seen.filter((s) => s.path === '/never')).toHaveLength(0);
  });

  it('refuses remote (external) files and reports server errors as retryable download failures', async () => {
    await expect(
      downloader()(attachment(`${slack.origin}/x`, { external: true }), signal()),
    ).rejects.toMatchObject({ code: 'INPUT_UNSUPPORTED' });
    expect(slack.seen).toHaveLength(0);
    slack.routes.set('/down', (_req, res) => {
      res.writeHead(503);
      res.end();
    });
    await expect(downloader()(attachment(`${slack.origin}/down`), signal())).rejects.toMatchObject({
      code: 'DOWNLOAD_FAILED',
      retryable: true,
    });
  });

  it('resolves a file that came without a URL through files.info', async () => {
    slack.routes.set('/files-pri/c.png', sendPng);
    const download = createSlackDownloader({
      token: TOKEN,
      allowedOrigins: [slack.origin],
      maxBytes: 1 << 20,
      resolveUrl: async (fileId) => (fileId === 'F1' ? `${slack.origin}/files-pri/c.png` : undefined),
    });
    expect((await download(attachment(''), signal())).equals(PNG)).toBe(true);
  });
});
