import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.ts';
import { isAppError } from '../../../src/errors.ts';
import { silentLogger } from '../../../src/log.ts';
import { runStart } from '../../../src/main.ts';
import { openStore } from '../../../src/store/index.ts';
import { createTestEngine } from '../../helpers/core-doubles.ts';

describe('quickread start (composition root)', () => {
  it('runs with no adapter configured, says so, and stops cleanly releasing the data folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qr-start-'));
    try {
      const config = loadConfig({ DATA_DIR: dir, CONSOLE_PORT: '0' });
      const out: string[] = [];
      let stop: (value: string) => void = () => undefined;
      const until = new Promise<string>((resolve) => {
        stop = resolve;
      });
      const engine = createTestEngine();
      const running = runStart(
        config,
        { out: (l) => out.push(l), err: (l) => out.push(l) },
        { logger: silentLogger, until, engine },
      );
      while (!out.some((l) => l.startsWith('adapters on:'))) await new Promise((r) => setTimeout(r, 5));
      // While it runs it holds the data folder.
      const second = await openStore(dir, { logger: silentLogger }).catch((e: unknown) => e);
      expect(isAppError(second, 'STORE_LOCKED')).toBe(true);
      stop('SIGTERM');
      expect(await running).toBe(0);
      expect(out.join('\n')).toMatch(/adapters on: none/);
      expect(out.join('\n')).toMatch(/engine: test ready at /);
      expect(out.join('\n')).toMatch(/stopping \(SIGTERM\)/);
      const reopened = await openStore(dir, { logger: silentLogger });
      await reopened.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
