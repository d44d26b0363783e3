import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const fixture = join(root, 'test/fixtures/images/cxr_hannover_2168a917_dx_pa.png');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qr-many-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('quickread prepare over a long command line', () => {
  // Regression: the text scanner's worker thread ran out of stack (a segfault of the whole process)
  // inside onnxruntime when the parent's command line held a few hundred paths.
  it('scans a raster image for text without crashing when given hundreds of paths', () => {
    const missing = Array.from({ length: 270 }, (_, i) => join(dir, `missing-${i}-${'a'.repeat(40)}.dcm`));
    const run = spawnSync(
      process.execPath,
      ['src/quickread.mjs', 'prepare', fixture, ...missing, '--out', join(dir, 'out'), '--json'],
      { cwd: root, encoding: 'utf8', timeout: 120_000, env: { ...process.env, BURNED_IN_TEXT: 'redact' } },
    );
    expect(run.signal).toBeNull();
    expect(run.status).toBe(1); // the missing files fail, each on its own line
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines).toHaveLength(271);
    expect(lines[0]).toMatchObject({ ok: true });
    expect(lines.slice(1).every((line: { ok: boolean }) => !line.ok)).toBe(true);
  });
});
