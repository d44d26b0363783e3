import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log.ts';

/** A real pino logger writing into memory, so tests can assert on every line it produced. */
export function captureLogger(level = 'trace'): { logger: Logger; lines: () => string[] } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      chunks.push(String(chunk));
      callback();
    },
  });
  const logger = createLogger({ level, destination });
  return { logger, lines: () => chunks.join('').split('\n').filter(Boolean) };
}
