import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A loopback HTTP server for the engine fakes that can go down and come back on the same port (the
 * "model server restarted" scenarios): while stopped, connections are refused, as from a dead server.
 */
export interface RestartableServer {
  /** The port, fixed by the first listen(). */
  readonly port: number;
  listen(): Promise<void>;
  /** Close the port and cut every open connection and held response. */
  stop(): Promise<void>;
}

export function restartableServer(
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  /** Answer a request whose handler threw (the fake's own 500 shape). */
  fail: (res: ServerResponse) => void,
  /** Responses the fake holds open on purpose ('hang' modes): destroyed by stop(). */
  held: Set<ServerResponse> = new Set(),
): RestartableServer {
  let port = 0;
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) fail(res);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return {
    get port() {
      return port;
    },
    listen: () =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', reject);
          port = (server.address() as AddressInfo).port;
          resolve();
        });
      }),
    stop: () =>
      new Promise<void>((resolve) => {
        for (const res of held) res.destroy();
        for (const socket of sockets) socket.destroy();
        if (!server.listening) {
          resolve();
          return;
        }
        server.close(() => resolve());
      }),
  };
}
