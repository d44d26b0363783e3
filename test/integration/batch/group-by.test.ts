/** `quickread batch --group-by folder` (issue 17): each folder of a case series is one study read. */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeOpenAI, startFakeOpenAI } from '../../fakes/openai-server.ts';
import { runCliCaptured } from '../../helpers/run-cli.ts';
import { syntheticPng } from '../engine/image.ts';

let dir: string;
let fake: FakeOpenAI;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qr-batch-group-'));
  fake = await startFakeOpenAI();
  for (const [folder, sizes] of [
    ['case-1', [256, 192]],
    ['case-2', [224]],
  ] as const) {
    await mkdir(join(dir, 'in', folder), { recursive: true });
    for (const [i, side] of sizes.entries())
      await writeFile(join(dir, 'in', folder, `view-${i}.png`), await syntheticPng(side, side));
  }
});

afterAll(async () => {
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

describe('quickread batch --group-by folder', () => {
  it('reads each folder as one study and writes one row per folder with its images', async () => {
    const { code } = await runCliCaptured(
      ['batch', '--input-dir', join(dir, 'in'), '--output-dir', join(dir, 'out'), '--group-by', 'folder'],
      { ENGINE_URL: fake.url, DATA_DIR: join(dir, 'data'), LOG_LEVEL: 'silent', BURNED_IN_TEXT: 'flag' },
    );
    expect(code).toBe(0);
    const rows = (await readFile(join(dir, 'out', 'results.jsonl'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line))
      // Rows are appended as reads finish; the folders run concurrently.
      .sort((a, b) => a.file.localeCompare(b.file));
    expect(
      rows.map((row) => [row.file, row.ok, row.images.map((image: { label: string }) => image.label)]),
    ).toEqual([
      ['case-1', true, ['Image 1 of 2', 'Image 2 of 2']],
      ['case-2', true, ['Image 1 of 1']],
    ]);
    const reads = fake.requests.filter((r) => r.kind === 'read');
    expect(reads.map((r) => r.images.length).sort()).toEqual([1, 2]);
  });

  it('refuses an unknown grouping with a usage error', async () => {
    const { code, err } = await runCliCaptured(
      ['batch', '--input-dir', join(dir, 'in'), '--output-dir', join(dir, 'out2'), '--group-by', 'patient'],
      { ENGINE_URL: fake.url, DATA_DIR: join(dir, 'data'), LOG_LEVEL: 'silent' },
    );
    expect(code).toBe(2);
    expect(err).toMatch(/--group-by/);
  });
});
