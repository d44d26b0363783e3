import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConsoleAdapter, createConsoleAdapter } from '../../../adapters/console/index.ts';
import { loadConfig } from '../../../src/config.ts';
import { captureLogger } from '../../helpers/capture-log.ts';
import { createStubCore } from './stub-core.ts';

/** Opens a raw TCP connection and collects what the server sends until it closes the connection. */
function rawClient(port: number): { socket: Socket; closed: Promise<{ text: string; afterMs: number }> } {
  const socket = connect(port, '127.0.0.1');
  const opened = Date.now();
  let text = '';
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  socket.on('error', () => undefined);
  const closed = new Promise<{ text: string; afterMs: number }>((resolve) =>
    socket.on('close', () => resolve({ text, afterMs: Date.now() - opened })),
  );
  return { socket, closed };
}

/** Slow and idle clients against the console's listener with short bounds (http-bounds.ts). */
describe('console listener bounds', () => {
  let adapter: ConsoleAdapter;
  let port: number;
  const log = captureLogger('warn');

  beforeAll(async () => {
    adapter = createConsoleAdapter(loadConfig({ CONSOLE_PORT: '0' }), {
      logger: log.logger,
      port: 0,
      httpBounds: { headersTimeoutMs: 600, requestTimeoutMs: 1500, maxConnections: 4 },
    });
    await adapter.start(createStubCore(adapter).core);
    port = Number(new URL(adapter.url!).port);
  });
  afterAll(async () => {
    await adapter?.stop();
  });

  it('cuts a client that sends its headers a byte at a time with 408', async () => {
    const client = rawClient(port);
    client.socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const trickle = setInterval(() => client.socket.write('X'), 100);
    const { text, afterMs } = await client.closed;
    clearInterval(trickle);
    expect(text).toMatch(/^HTTP\/1\.1 408/);
    expect(afterMs).toBeLessThan(5000);
  });

  it('cuts an upload whose body trickles in with 408', async () => {
    const client = rawClient(port);
    client.socket.write(
      'POST /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 100000\r\n\r\n--x',
    );
    const trickle = setInterval(() => client.socket.write('y'), 100);
    const { text, afterMs } = await client.closed;
    clearInterval(trickle);
    expect(text).toMatch(/HTTP\/1\.1 408/);
    expect(afterMs).toBeLessThan(6000);
  });

  it('drops connections beyond the cap with one warning line, and serves again once they are cut', async () => {
    const idle = Array.from({ length: 4 }, () => rawClient(port));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const extra = Array.from({ length: 3 }, () => rawClient(port));
    // Dropped at once, not after the header timeout.
    for (const client of extra) expect((await client.closed).afterMs).toBeLessThan(500);
    await Promise.all(idle.map((client) => client.closed));
    expect((await fetch(`${adapter.url}`)).status).toBe(200);
    const warnings = log.lines().filter((line) => line.includes('too many open connections'));
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(warnings[0]!)).toMatchObject({ maxConnections: 4, count: 1 });
  });
});
