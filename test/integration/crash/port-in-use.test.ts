import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { reportError } from '../../../src/commands/output.ts';
import { loadConfig } from '../../../src/config.ts';
import { silentLogger } from '../../../src/log.ts';
import { runStart } from '../../../src/main.ts';
import { captureLogger } from '../../helpers/capture-log.ts';
import { createTestEngine } from '../../helpers/core-doubles.ts';
import { runCliCaptured } from '../../helpers/run-cli.ts';

/**
 * Honest start-up errors (issue 16): a second start on a taken port says PORT_IN_USE, names the setting
 * and the port, and exits 2; an INTERNAL error says it is a bug and the log gets its stack.
 */

let holder: Server | undefined;
let dir: string | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (holder ? holder.close(() => resolve()) : resolve()));
  if (dir) await rm(dir, { recursive: true, force: true });
  holder = undefined;
  dir = undefined;
});

/** A port some other program already listens on (here: a plain TCP server on 127.0.0.1). */
async function takenPort(): Promise<number> {
  holder = createServer();
  await new Promise<void>((resolve) => holder!.listen(0, '127.0.0.1', resolve));
  return (holder.address() as { port: number }).port;
}

describe('a port already in use', () => {
  it('serve-api --port: PORT_IN_USE naming --port and the port, exit 2', async () => {
    const port = await takenPort();
    dir = await mkdtemp(join(tmpdir(), 'qr-port-'));
    const result = await runCliCaptured(['serve-api', '--port', String(port)], {
      DATA_DIR: dir,
      LOG_LEVEL: 'silent',
      ENGINE_URL: 'http://127.0.0.1:9/v1',
    });
    expect(result.code).toBe(2);
    expect(result.err).toContain('[PORT_IN_USE]');
    expect(result.err).toContain(`--port=${port}`);
    expect(result.err).not.toContain('INTERNAL');
  });

  it('serve-api from API_PORT: the message names API_PORT', async () => {
    const port = await takenPort();
    dir = await mkdtemp(join(tmpdir(), 'qr-port-'));
    const result = await runCliCaptured(['serve-api'], {
      DATA_DIR: dir,
      LOG_LEVEL: 'silent',
      API_PORT: String(port),
      ENGINE_URL: 'http://127.0.0.1:9/v1',
    });
    expect(result.code).toBe(2);
    expect(result.err).toContain(`API_PORT=${port}`);
  });

  it('the console (CONSOLE_PORT) on start: PORT_IN_USE, and the data folder is let go', async () => {
    const port = await takenPort();
    dir = await mkdtemp(join(tmpdir(), 'qr-port-'));
    const config = loadConfig({ DATA_DIR: dir, CONSOLE_PORT: String(port) });
    const error = await runStart(
      config,
      { out: () => undefined, err: () => undefined },
      { logger: silentLogger, until: new Promise<string>(() => undefined), engine: createTestEngine() },
    ).catch((e: unknown) => e);
    const err: string[] = [];
    const code = reportError(error, { out: () => undefined, err: (line) => err.push(line) });
    expect(code).toBe(2);
    expect(err.join('\n')).toContain(`CONSOLE_PORT=${port}`);
    expect(err.join('\n')).toContain('[PORT_IN_USE]');
    // A second start on a free port works: the failed one released the store's lock.
    const again = await runStart(
      loadConfig({ DATA_DIR: dir, CONSOLE_PORT: '0' }),
      { out: () => undefined, err: () => undefined },
      { logger: silentLogger, until: Promise.resolve('SIGTERM'), engine: createTestEngine() },
    );
    expect(again).toBe(0);
  });
});

describe('an INTERNAL error', () => {
  it('tells the user it is a bug and puts the stack in the log, never on the user’s screen', () => {
    const { logger, lines } = captureLogger('error');
    const err: string[] = [];
    const code = reportError(
      new TypeError('cannot read properties of undefined'),
      {
        out: () => undefined,
        err: (line) => err.push(line),
      },
      logger,
    );
    expect(code).toBe(1);
    expect(err.join('\n')).toContain('this is a bug in quickread; the log has the details. [INTERNAL]');
    expect(err.join('\n')).not.toMatch(/\n\s+at /);
    const logged = JSON.parse(lines().at(-1)!) as { err: { cause: { stack: string } } };
    expect(logged.err.cause.stack).toMatch(/at .*port-in-use\.test\.ts/);
  });
});
