/**
 * Canary PHI planted into every corpus DICOM (issue #3): a patient name written over the real one,
 * a private tag, a private sequence nesting a patient name, and a file name carrying a name and a
 * birth date. `quickread prepare --json` over all of them, as a user runs it, must let none of it
 * into the JSON (beyond `file`, the user's own path) or into the PNG the model would see.
 * Skipped when ../shared/corpus is absent.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import dicomParser from 'dicom-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const corpus = fileURLToPath(new URL('../../../shared/corpus/dicom/', import.meta.url));
const present = existsSync(corpus);

const NAME = 'QQCANARYNAME';
const PRIVATE = 'QQCANARYPRIVATE';
const NESTED = 'QQCANARYNESTED';
const FILE = 'QQCANARYFILE_DOE_JANE_19450101';
const canaries = [NAME, PRIVATE, NESTED, FILE, 'QQCANARY'];

/** Little-endian syntaxes whose dataset is not deflated, so elements can be appended after Pixel Data. */
const appendable = (syntax: string) =>
  syntax !== '1.2.840.10008.1.2.2' && syntax !== '1.2.840.10008.1.2.1.99';

function element(group: number, el: number, vr: string, value: Buffer, explicit: boolean): Buffer {
  const head = Buffer.alloc(explicit ? 8 : 8);
  head.writeUInt16LE(group, 0);
  head.writeUInt16LE(el, 2);
  if (explicit) {
    head.write(vr, 4, 'latin1');
    head.writeUInt16LE(value.length, 6);
  } else head.writeUInt32LE(value.length, 4);
  return Buffer.concat([head, value]);
}

const text = (value: string) => Buffer.from(value.length % 2 ? `${value} ` : value, 'latin1');

/** A private sequence (undefined length) holding one item with a patient name in it (PS3.5 7.5). */
function nestedSequence(explicit: boolean): Buffer {
  const tag = (g: number, e: number, len: number) => {
    const b = Buffer.alloc(8);
    b.writeUInt16LE(g, 0);
    b.writeUInt16LE(e, 2);
    b.writeUInt32LE(len, 4);
    return b;
  };
  const inner = element(0x0010, 0x0010, 'PN', text(`${NESTED}^JANE`), explicit);
  const head = Buffer.alloc(explicit ? 12 : 8);
  head.writeUInt16LE(0x7fe1, 0);
  head.writeUInt16LE(0x1002, 2);
  if (explicit) {
    head.write('SQ', 4, 'latin1');
    head.writeUInt32LE(0xffffffff, 8);
  } else head.writeUInt32LE(0xffffffff, 4);
  return Buffer.concat([
    head,
    tag(0xfffe, 0xe000, 0xffffffff),
    inner,
    tag(0xfffe, 0xe00d, 0),
    tag(0xfffe, 0xe0dd, 0),
  ]);
}

function plant(bytes: Buffer): Buffer | undefined {
  let data: ReturnType<typeof dicomParser.parseDicom>;
  try {
    // dicom-parser inflates deflated datasets with Buffer methods: hand it the Buffer itself.
    data = dicomParser.parseDicom(bytes as unknown as Uint8Array);
  } catch {
    return undefined; // no preamble: planting by offset needs dicom-parser's Part 10 reader
  }
  const syntax = data.string('x00020010') ?? '1.2.840.10008.1.2';
  if (!appendable(syntax)) return undefined;
  const explicit = syntax !== '1.2.840.10008.1.2';
  const out = Buffer.from(bytes);
  const name = data.elements.x00100010;
  if (name && name.length >= 4)
    out.write(NAME.padEnd(name.length, ' ').slice(0, name.length), name.dataOffset, 'latin1');
  return Buffer.concat([
    out,
    element(0x7fe1, 0x0010, 'LO', text('QQCANARY CREATOR'), explicit),
    element(0x7fe1, 0x1001, 'LO', text(PRIVATE), explicit),
    nestedSequence(explicit),
  ]);
}

let dir: string;
const planted: string[] = [];

beforeAll(async () => {
  if (!present) return;
  dir = await mkdtemp(join(tmpdir(), 'qr-canary-'));
  await mkdir(join(dir, 'in'));
  for (const file of readdirSync(corpus).sort()) {
    const bytes = plant(readFileSync(join(corpus, file)));
    if (!bytes) continue;
    const target = join(dir, 'in', `${FILE}_${file}`);
    await writeFile(target, bytes);
    planted.push(target);
  }
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!present)('canary PHI planted in the corpus never leaves ingest', () => {
  it('prepare --json carries no canary outside `file`, and no output PNG holds one', async () => {
    expect(planted.length).toBeGreaterThan(30);
    // The planting itself is real: a DICOM reader finds every canary in the files given to prepare.
    let withName = 0;
    for (const file of planted) {
      const data = dicomParser.parseDicom(readFileSync(file) as unknown as Uint8Array);
      expect(data.string('x7fe11001')).toBe(PRIVATE);
      const nested = data.elements.x7fe11002?.items?.[0]?.dataSet?.string('x00100010');
      // dicom-parser reads implicit-VR sequences only with a VR callback; there the bytes must do.
      if (data.string('x00020010') === '1.2.840.10008.1.2')
        expect(readFileSync(file).includes(NESTED)).toBe(true);
      else expect(String(nested)).toContain(NESTED);
      if (data.string('x00100010')?.startsWith(NAME.slice(0, 4))) withName += 1;
    }
    expect(withName).toBeGreaterThan(20);
    const run = spawnSync(
      process.execPath,
      ['src/quickread.mjs', 'prepare', join(dir, 'in'), '--out', join(dir, 'out'), '--json', '--size', '256'],
      { cwd: repo, encoding: 'utf8', timeout: 240_000, env: { ...process.env, BURNED_IN_TEXT: 'flag' } },
    );
    expect(run.signal).toBeNull();
    const records = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(records).toHaveLength(planted.length);
    for (const [index, line] of run.stdout.trim().split('\n').entries()) {
      const { file: _file, output, ...rest } = records[index];
      const withoutPaths = JSON.stringify({
        ...rest,
        output: output ? { ...output, path: undefined } : undefined,
      });
      for (const canary of canaries) expect(withoutPaths, line.slice(0, 80)).not.toContain(canary);
    }
    const decoded = records.filter((record) => record.ok);
    // Planting must not have broken the files: nearly all still decode.
    expect(decoded.length).toBeGreaterThan(planted.length - 4);
    for (const record of decoded) {
      const png = await readFile(record.output.path);
      for (const canary of canaries) {
        expect(png.includes(canary)).toBe(false);
        expect(png.includes(Buffer.from(canary, 'utf16le'))).toBe(false);
      }
    }
    // Nothing on stderr either (warnings, logs).
    for (const canary of canaries) expect(run.stderr).not.toContain(canary);
  });
});
