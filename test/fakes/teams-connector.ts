import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TestCert } from './tls-cert.ts';

/**
 * A loopback Bot Connector (the Teams serviceUrl): replies (POST /v3/conversations/{id}/activities[/{replyToId}]),
 * edits (PUT /v3/conversations/{id}/activities/{activityId}) and inline image downloads
 * (GET /v3/attachments/{id}/views/original) — each only with the bearer token Entra issued to the bot.
 * `fail()` scripts faults (413 too large, 429 with Retry-After…) for requests that match.
 */
export interface ConnectorRequest {
  method: string;
  path: string;
  conversationId?: string;
  activityId?: string;
  authorization?: string;
  body?: Record<string, unknown>;
  status: number;
  /** The id a successful POST gave the new activity. */
  createdId?: string;
}

export interface ConnectorFake {
  url: string;
  requests: ConnectorRequest[];
  /** Serve these bytes at /v3/attachments/{id}/views/original. */
  addAttachment(bytes: Buffer, contentType?: string): string;
  /** Answer /v3/attachments/{id}/views/original with a 302 to `location` (as when a file lives in blob storage). */
  addRedirect(location: string): string;
  /** The next `times` requests matching `when` get `status` (and headers). */
  fail(
    when: (request: ConnectorRequest) => boolean,
    status: number,
    times?: number,
    headers?: Record<string, string>,
  ): void;
  close(): Promise<void>;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  if (chunks.length === 0) return undefined;
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
}

export async function startConnectorFake(
  cert: TestCert,
  validTokens: () => string[],
): Promise<ConnectorFake> {
  const attachments = new Map<string, { bytes: Buffer; type: string } | { location: string }>();
  const requests: ConnectorRequest[] = [];
  const faults: Array<{
    when: (r: ConnectorRequest) => boolean;
    status: number;
    left: number;
    headers: Record<string, string>;
  }> = [];
  const server: Server = createServer({ cert: cert.cert, key: cert.key }, async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'https://x').pathname);
    const body = req.method === 'GET' ? undefined : await readJson(req);
    const record: ConnectorRequest = {
      method: req.method ?? '',
      path,
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      ...(body ? { body } : {}),
      status: 0,
    };
    const activityRoute = /^\/v3\/conversations\/([^/]+)\/activities(?:\/([^/]+))?$/.exec(path);
    if (activityRoute) {
      record.conversationId = activityRoute[1];
      if (activityRoute[2]) record.activityId = activityRoute[2];
    }
    requests.push(record);
    const answer = (status: number, json?: unknown, headers: Record<string, string> = {}) => {
      record.status = status;
      res
        .writeHead(status, { 'content-type': 'application/json', ...headers })
        .end(json === undefined ? '' : JSON.stringify(json));
    };
    const token = req.headers.authorization?.replace(/^Bearer /, '');
    if (!token || !validTokens().includes(token)) return answer(401, { error: { code: 'Unauthorized' } });
    const fault = faults.find((f) => f.left > 0 && f.when(record));
    if (fault) {
      fault.left -= 1;
      return answer(
        fault.status,
        { error: { code: 'Fault', message: `scripted ${fault.status}` } },
        fault.headers,
      );
    }
    const file = /^\/v3\/attachments\/([^/]+)\/views\/original$/.exec(path);
    if (req.method === 'GET' && file) {
      const found = attachments.get(file[1]!);
      if (!found) return answer(404, { error: { code: 'NotFound' } });
      if ('location' in found) return answer(302, undefined, { location: found.location });
      record.status = 200;
      res.writeHead(200, { 'content-type': found.type }).end(found.bytes);
      return;
    }
    if (activityRoute && req.method === 'POST') {
      record.createdId = `act-${randomUUID().slice(0, 8)}`;
      return answer(201, { id: record.createdId });
    }
    if (activityRoute && req.method === 'PUT' && activityRoute[2])
      return answer(200, { id: activityRoute[2] });
    answer(404, { error: { code: 'NotFound' } });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    addAttachment(bytes, type = 'image/png') {
      const id = `0-eus-d1-${randomUUID().replaceAll('-', '')}`;
      attachments.set(id, { bytes, type });
      return id;
    },
    addRedirect(location) {
      const id = `0-eus-d1-${randomUUID().replaceAll('-', '')}`;
      attachments.set(id, { location });
      return id;
    },
    fail(when, status, times = 1, headers = {}) {
      faults.push({ when, status, left: times, headers });
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Another https origin serving one file, recording whether anyone sent it an Authorization header. */
export interface FileHostFake {
  url: string;
  requests: Array<{ path: string; authorization?: string }>;
  close(): Promise<void>;
}

export async function startFileHost(cert: TestCert, bytes: Buffer): Promise<FileHostFake> {
  const requests: FileHostFake['requests'] = [];
  const server: Server = createServer({ cert: cert.cert, key: cert.key }, (req, res) => {
    requests.push({
      path: req.url ?? '/',
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    });
    res.writeHead(200, { 'content-type': 'image/png' }).end(bytes);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
