import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../../src/cli.ts';

const hour = 3600_000;

describe('quickread audit --critical', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  async function run(lines: object[], args: string[]) {
    const dir = mkdtempSync(join(tmpdir(), 'qr-audit-'));
    dirs.push(dir);
    writeFileSync(
      join(dir, 'audit.jsonl'),
      `${lines.map((line) => JSON.stringify(line)).join('\n')}\n{"torn`,
    );
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(['audit', ...args], {
      env: { DATA_DIR: dir },
      io: { out: (line) => out.push(line), err: (line) => err.push(line) },
    });
    return { code, out, err };
  }

  it('prints time to acknowledge per paged read, with median and p90, within --since', async () => {
    const at = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();
    const paged = (job: string, ago: number) => ({ at: at(ago), event: 'paged', job, step: 1 });
    const acked = (job: string, ago: number, ackAfterSec: number) => ({
      at: at(ago),
      event: 'acknowledged',
      job,
      ackAfterSec,
    });
    const { code, out } = await run(
      [
        paged('old', 30 * hour),
        acked('old', 30 * hour, 9999),
        paged('a', 5 * hour),
        acked('a', 5 * hour, 60),
        paged('b', 4 * hour),
        { at: at(4 * hour), event: 'escalated', job: 'b', step: 2 },
        acked('b', 4 * hour, 900),
        paged('c', 3 * hour),
        { at: at(3 * hour), event: 'not-critical', job: 'c' },
        acked('c', 3 * hour, 120),
        paged('d', 2 * hour),
        { at: at(2 * hour), event: 'read', job: 'e' },
      ],
      ['--critical', '--since', '24h'],
    );
    expect(code).toBe(0);
    const text = out.join('\n');
    expect(text).not.toContain('old');
    expect(out.find((line) => line.includes(' b '))).toMatch(/backup\s+15\.0 min/);
    expect(out.find((line) => line.includes(' c '))).toContain('(marked not critical)');
    expect(out.find((line) => line.includes(' d '))).toContain('NOT ACKNOWLEDGED');
    expect(out.at(-1)).toBe('4 paged · 3 acknowledged · time to acknowledge: median 2.0 min, p90 15.0 min');
  });

  it('refuses a malformed --since with a usage error', async () => {
    const { code, err } = await run([], ['--critical', '--since', 'yesterday']);
    expect(code).toBe(2);
    expect(err.join('\n')).toContain('--since takes a number and a unit');
  });
});
