import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { checkConsoleExposure } from '../../../adapters/console/auth.ts';
import { loadConfig } from '../../../src/config.ts';

/** The files in deploy/ (issue 18): systemd units that systemd accepts, and a compose file that fits. */

const deploy = new URL('../../../deploy/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, deploy), 'utf8');
const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const hasSystemdAnalyze = analyze.status === 0;

describe('systemd units', () => {
  it.skipIf(!hasSystemdAnalyze)('pass `systemd-analyze verify` without a single warning', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qr-units-'));
    try {
      // verify also checks that ExecStart's program exists: vLLM's venv is not on a test machine, so a
      // stand-in executable takes its path. Every directive is still checked as written.
      const vllm = join(dir, 'vllm');
      writeFileSync(vllm, '#!/bin/sh\n');
      chmodSync(vllm, 0o755);
      writeFileSync(join(dir, 'vllm.service'), read('vllm.service').replace('/opt/vllm/bin/vllm', vllm));
      writeFileSync(join(dir, 'quickread.service'), read('quickread.service'));
      const result = spawnSync(
        'systemd-analyze',
        ['verify', join(dir, 'quickread.service'), join(dir, 'vllm.service')],
        { encoding: 'utf8' },
      );
      // Unknown or misspelt keys are only warnings ("ignoring"): any output at all is a failure.
      expect(result.stderr.trim()).toBe('');
      expect(result.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(hasSystemdAnalyze)('skipped: systemd-analyze is missing (apt-get install systemd)', () => {});

  it('keep the state in DATA_DIR, do not restart on a configuration error, and stop with SIGTERM', () => {
    const unit = read('quickread.service');
    expect(unit).toMatch(/^StateDirectory=quickread$/m);
    expect(unit).toMatch(/^Environment=DATA_DIR=\/var\/lib\/quickread\b/m);
    expect(unit).toMatch(/^RestartPreventExitStatus=2$/m);
    expect(unit).toMatch(/^KillSignal=SIGTERM$/m);
    // vLLM listens on loopback only, where quickread's default ENGINE_URL expects it.
    const vllm = read('vllm.service');
    expect(vllm).toContain('--host 127.0.0.1 --port 8000');
    expect(loadConfig({}).ENGINE_URL).toBe('http://127.0.0.1:8000/v1');
  });
});

describe('compose.yaml', () => {
  const compose = parse(read('compose.yaml')) as {
    services: Record<string, Record<string, unknown>>;
    volumes: Record<string, unknown>;
  };
  const quickread = compose.services.quickread!;
  const env = quickread.environment as Record<string, string>;

  it('keeps DATA_DIR on a named volume and reaches vLLM by its service name', () => {
    const mounts = quickread.volumes as string[];
    const dataMount = mounts.find((mount) => mount.endsWith(`:${env.DATA_DIR}`));
    expect(dataMount).toBeDefined();
    expect(Object.keys(compose.volumes)).toContain(dataMount!.split(':')[0]);
    expect(new URL(env.ENGINE_URL!).hostname).toBe('vllm');
    expect(compose.services.vllm!.image).toMatch(/^vllm\/vllm-openai:v\d/);
  });

  it('publishes the console on the host loopback only, with a sign-in the console accepts', () => {
    expect(quickread.ports).toEqual(['127.0.0.1:8787:8787']);
    expect(compose.services.vllm!.ports).toBeUndefined();
    const authDefault = /^\$\{CONSOLE_AUTH:-(\w+)\}$/.exec(env.CONSOLE_AUTH!)?.[1];
    expect(authDefault).toBe('token');
    // The environment compose gives quickread must load, and must not be refused as an open console.
    const config = loadConfig({ ...env, CONSOLE_AUTH: authDefault });
    expect(config.CONSOLE_HOST).toBe('0.0.0.0');
    expect(() => checkConsoleExposure(config)).not.toThrow();
    expect(() => checkConsoleExposure({ ...config, CONSOLE_AUTH: 'none' })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
  });

  it('has the Dockerfile it builds from', () => {
    const build = quickread.build as { context: string; dockerfile: string };
    expect(existsSync(new URL(`../${build.dockerfile}`, deploy))).toBe(true);
  });
});
