import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliCaptured } from '../../helpers/run-cli.ts';
import { buildCt } from './dicom-builder.ts';

const FIXTURE = fileURLToPath(
  new URL('../../fixtures/images/cxr_hannover_2168a917_dx_pa.png', import.meta.url),
);
const CANARY_NAME = 'ZZCANARY^JANE';
const CANARY_ID = 'MRN-CANARY-90210';
const CANARY_INSTITUTION = 'CANARY GENERAL HOSPITAL';
const CANARY_FILE = 'DOE_JOHN_CANARYFILE_19500101';

let dir: string;
let out: string;

/** A `--json` line, as far as these tests read it. */
interface PrepareRecord {
  file: string;
  ok: boolean;
  error?: { code: string; message: string };
  window: { center: number; width: number; source: string };
  output: { path: string; width: number; height: number; tokens: number };
  deid: { removedTags: number; burnedInAnnotation: boolean };
  [key: string]: unknown;
}

const lines = (text: string) =>
  text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as PrepareRecord);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qr-prepare-'));
  out = join(dir, 'out');
  const inputs = join(dir, 'in');
  await import('node:fs/promises').then((fs) => fs.mkdir(join(inputs, 'nested'), { recursive: true }));
  await writeFile(join(inputs, 'chest.png'), await readFile(FIXTURE));
  const values = new Uint16Array(64 * 48);
  for (let i = 0; i < values.length; i += 1) values[i] = 924 + (i % 64) * 8; // −100..404 HU ramp
  await writeFile(
    join(inputs, 'nested', `${CANARY_FILE}.dcm`),
    buildCt({
      rows: 48,
      columns: 64,
      pixels: values,
      extra: [
        [0x0008, 0x0080, 'LO', CANARY_INSTITUTION],
        [0x0010, 0x0010, 'PN', CANARY_NAME],
        [0x0010, 0x0020, 'LO', CANARY_ID],
        [0x0010, 0x0030, 'DA', '19500101'],
      ],
    }),
  );
  await writeFile(join(inputs, 'nested', 'login.dcm'), '<!DOCTYPE html><html><body>Sign in</body></html>');
  await writeFile(join(inputs, '.DS_Store'), 'hidden files are skipped');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('quickread prepare', () => {
  it('--json prints one DESIGN §5 record per input, walks folders and exits 1 when one fails', async () => {
    const result = await runCliCaptured(['prepare', join(dir, 'in'), '--json', '--out', out]);
    expect(result.code).toBe(1);
    const records = lines(result.out);
    expect(records.map((record) => record.file)).toEqual([
      join(dir, 'in', 'chest.png'),
      join(dir, 'in', 'nested', `${CANARY_FILE}.dcm`),
      join(dir, 'in', 'nested', 'login.dcm'),
    ]);
    const [png, dicom, html] = records;
    expect(png).toMatchObject({
      ok: true,
      source: 'png',
      rows: 549,
      columns: 640,
      frames: 1,
      photometric: 'MONOCHROME2',
      output: { width: 640, height: 544, tokens: 20 * 17 },
      deid: { burnedInAnnotation: true },
      // Raster images are always scanned for burned-in text (issue #9); the counts are top-level.
      burnedInText: {
        regions: expect.any(Number),
        redacted: expect.any(Number),
        keptMarkers: expect.any(Number),
      },
    });
    expect(Object.keys(png!.deid)).toEqual(['removedTags', 'burnedInAnnotation']);
    expect(Object.keys(png!).slice(0, 11)).toEqual([
      'file',
      'ok',
      'source',
      'modality',
      'rows',
      'columns',
      'frames',
      'transferSyntax',
      'photometric',
      'window',
      'output',
    ]);
    const written = await sharp(await readFile(png!.output.path)).metadata();
    expect([written.width, written.height, written.depth]).toEqual([640, 544, 'uchar']);

    expect(dicom).toMatchObject({ ok: true, source: 'dicom', modality: 'CT', rows: 48, columns: 64 });
    expect(dicom!.output).toMatchObject({ width: 64, height: 32, tokens: 2 });
    expect(html).toEqual({
      file: join(dir, 'in', 'nested', 'login.dcm'),
      ok: false,
      // A local file: the message speaks of a saved web page, not of a chat platform's permissions.
      error: { code: 'INPUT_HTML', message: expect.stringContaining('This file is a web page') },
    });
  });

  it('blames an unwritable --out on the output, not on the input', async () => {
    const blocker = join(dir, 'a-regular-file');
    await writeFile(blocker, 'not a folder');
    const result = await runCliCaptured(['prepare', FIXTURE, '--json', '--out', join(blocker, 'x.png')]);
    expect(result.code).toBe(1);
    expect(lines(result.out)[0]).toMatchObject({ ok: false, error: { code: 'OUTPUT_NOT_WRITABLE' } });
  });

  it.skipIf(process.platform === 'win32')(
    'refuses a named pipe given as an input without waiting on it, and goes on with the rest',
    async () => {
      const fifo = join(dir, 'pipe.dcm');
      spawnSync('mkfifo', [fifo]);
      const result = await runCliCaptured([
        'prepare',
        fifo,
        FIXTURE,
        '--json',
        '--out',
        join(dir, 'fifo-out'),
      ]);
      const [pipe, fixture] = lines(result.out);
      expect(pipe).toMatchObject({ ok: false, error: { code: 'INPUT_UNSUPPORTED' } });
      expect(fixture).toMatchObject({ ok: true });
      expect(result.code).toBe(1);
    },
  );

  it('lets no header PHI or file name into the JSON or the image bytes', async () => {
    const target = join(dir, 'in', 'nested', `${CANARY_FILE}.dcm`);
    const result = await runCliCaptured(['prepare', target, '--json', '--out', join(dir, 'phi.png')]);
    expect(result.code).toBe(0);
    const [record] = lines(result.out);
    // `file` echoes the user's own path; nothing else in the record may carry identity.
    const { file: _file, ...rest } = record!;
    const text = JSON.stringify(rest);
    for (const canary of [CANARY_NAME, 'ZZCANARY', CANARY_ID, CANARY_INSTITUTION, '19500101', CANARY_FILE]) {
      expect(text).not.toContain(canary);
    }
    expect(record!.deid.removedTags).toBeGreaterThan(0);
    const bytes = await readFile(join(dir, 'phi.png'));
    for (const canary of [CANARY_NAME, CANARY_ID, CANARY_INSTITUTION, '19500101', CANARY_FILE]) {
      expect(bytes.includes(canary)).toBe(false);
      expect(bytes.includes(Buffer.from(canary, 'utf16le'))).toBe(false);
    }
    expect(result.err).toBe('');
  });

  it('honours --size, --window C,W and native, and prints a human summary without --json', async () => {
    const small = await runCliCaptured([
      'prepare',
      join(dir, 'in', 'chest.png'),
      '--size',
      '256',
      '--json',
      '--out',
      join(dir, 's'),
    ]);
    expect(lines(small.out)[0]!.output).toMatchObject({ width: 256, height: 192, tokens: 48 });
    const native = await runCliCaptured([
      'prepare',
      join(dir, 'in', 'chest.png'),
      '--size',
      'native',
      '--json',
      '--out',
      join(dir, 'n'),
    ]);
    expect(lines(native.out)[0]!.output).toMatchObject({ width: 640, height: 549 });
    const dicom = join(dir, 'in', 'nested', `${CANARY_FILE}.dcm`);
    const windowed = await runCliCaptured([
      'prepare',
      dicom,
      '--window',
      '40,400',
      '--json',
      '--out',
      join(dir, 'w'),
    ]);
    expect(lines(windowed.out)[0]!.window).toEqual({ center: 40, width: 400, source: 'user' });
    const human = await runCliCaptured(['prepare', join(dir, 'in', 'chest.png'), '--out', join(dir, 'h')]);
    expect(human.code).toBe(0);
    expect(human.out).toMatch(/✓ .*chest\.png → .*chest\.png {2}640×544, 340 tokens/);
  });

  it('exits 2 on bad usage and 1 for a missing file', async () => {
    const png = join(dir, 'in', 'chest.png');
    for (const args of [
      ['--size', '10'],
      ['--size', 'big'],
      ['--window', 'liver'],
      ['--window', '40,0'],
      ['--frame', '0'],
      ['--no-such-option'],
    ]) {
      const result = await runCliCaptured(['prepare', png, ...args, '--out', join(dir, 'u')]);
      expect(result.code, args.join(' ')).toBe(2);
    }
    expect((await runCliCaptured(['prepare'])).code).toBe(2);
    const missing = await runCliCaptured([
      'prepare',
      join(dir, 'nope.png'),
      '--json',
      '--out',
      join(dir, 'u'),
    ]);
    expect(missing.code).toBe(1);
    expect(lines(missing.out)[0]).toMatchObject({ ok: false, error: { code: 'INPUT_NOT_FOUND' } });
  });

  it('never overwrites an input with its output', async () => {
    const png = join(dir, 'in', 'chest.png');
    const before = await readFile(png);
    const result = await runCliCaptured(['prepare', png, '--json', '--out', png]);
    expect(result.code).toBe(0);
    expect(lines(result.out)[0]!.output.path).toBe(join(dir, 'in', 'chest-2.png'));
    expect((await readFile(png)).equals(before)).toBe(true);
  });
});
