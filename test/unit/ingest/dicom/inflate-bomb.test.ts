import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants, deflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TS, writeDicom } from '../../../helpers/dicom-writer.ts';

/**
 * A Deflated Explicit VR LE file (PS3.5 A.5) whose dataset inflates to 2 GiB: 2048 copies of one
 * fully flushed deflate block of 1 MiB of zeros (a full flush resets the window, so copies can follow
 * one another), then a final empty block. About 2 MB on disk; generated here, never committed.
 */
function deflateBomb(): Buffer {
  const block = deflateRawSync(Buffer.alloc(1 << 20), { finishFlush: constants.Z_FULL_FLUSH });
  const finalBlock = deflateRawSync(Buffer.alloc(0));
  const header = Buffer.from(writeDicom([], { transferSyntax: TS.deflated }));
  const head = header.subarray(0, header.length - finalBlock.length);
  return Buffer.concat([head, ...Array<Buffer>(2048).fill(block), finalBlock]);
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qr-bomb-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('deflated transfer syntax', () => {
  it('refuses a 2 GiB deflate bomb as INPUT_TOO_LARGE with peak memory under 300 MB', async () => {
    const file = join(dir, 'bomb.dcm');
    await writeFile(file, deflateBomb());
    // A fresh process, so its peak resident memory is this parse's and nothing else's.
    const parse = new URL('../../../../src/ingest/dicom/parse.ts', import.meta.url).href;
    const code = `const { parseDicomBytes } = await import(${JSON.stringify(parse)});
      const { readFileSync } = await import('node:fs');
      let outcome = 'parsed';
      try { parseDicomBytes(readFileSync(${JSON.stringify(file)})); } catch (error) { outcome = error.code; }
      console.log(JSON.stringify({ outcome, maxRssMb: process.resourceUsage().maxRSS / 1024 }));`;
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code]);
      let text = '';
      child.stdout.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      child.stderr.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      child.on('error', reject);
      child.on('close', () => resolve(text));
    });
    const result = JSON.parse(out.trim().split('\n').at(-1)!) as { outcome: string; maxRssMb: number };
    expect(result.outcome).toBe('INPUT_TOO_LARGE');
    expect(result.maxRssMb).toBeLessThan(300);
  }, 60_000);
});
