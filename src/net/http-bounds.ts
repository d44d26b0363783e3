import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../log.ts';

/**
 * Limits every quickread HTTP listener (console, API, Slack receiver) sets, so slow or idle clients
 * cannot hold it: headers must arrive within `headersTimeoutMs` and a whole request (an upload) within
 * `requestTimeoutMs`, else Node answers 408 and closes; beyond `maxConnections` open sockets new ones are
 * dropped. A slow *response* (a read waiting for the GPU) is not cut: the timers stop once the request
 * is received.
 */
export interface HttpBounds {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  maxConnections: number;
}

export const defaultHttpBounds: HttpBounds = {
  headersTimeoutMs: 10_000,
  // MAX_UPLOAD_MB over a slow hospital link: 50 MB at ~0.5 MB/s.
  requestTimeoutMs: 120_000,
  maxConnections: 512,
};

export function createBoundedServer(
  listener: (req: IncomingMessage, res: ServerResponse) => void,
  logger: Logger,
  bounds: HttpBounds = defaultHttpBounds,
): Server {
  const server = createServer(
    {
      headersTimeout: bounds.headersTimeoutMs,
      requestTimeout: bounds.requestTimeoutMs,
      // How often Node checks those timers (default 30 s would let a slow client stay 3× too long).
      connectionsCheckingInterval: Math.min(1000, bounds.headersTimeoutMs),
    },
    listener,
  );
  server.maxConnections = bounds.maxConnections;
  const dropped = throttledWarn(logger, 'connection refused: too many open connections');
  server.on('drop', () => dropped({ maxConnections: bounds.maxConnections }));
  return server;
}

/**
 * A warning repeated by many clients (queue full, connection cap) logged at most once a minute, with
 * how many happened since the last line, instead of one line each.
 */
export function throttledWarn(
  logger: Logger,
  message: string,
  periodMs = 60_000,
): (fields?: Record<string, unknown>) => void {
  let lastAt = Number.NEGATIVE_INFINITY;
  let unlogged = 0;
  return (fields = {}) => {
    const now = Date.now();
    unlogged += 1;
    if (now - lastAt < periodMs) return;
    logger.warn({ ...fields, count: unlogged, perSeconds: Math.round(periodMs / 1000) }, message);
    lastAt = now;
    unlogged = 0;
  };
}
