/** Everything that is not a decodable DICOM image gets a specific code and a message saying what it is. */
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../../src/errors.js';
import { decodeDicom } from '../../../../src/ingest/dicom/index.js';
import { el, encapsulated, imageElements, TS, writeDicom } from '../../../helpers/dicom-writer.js';

const fixture = (name: string) => readFileSync(new URL(`../../../fixtures/dicom/${name}`, import.meta.url));

async function failure(bytes: Uint8Array): Promise<AppError> {
  try {
    await decodeDicom(bytes);
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return error as AppError;
  }
  throw new Error('expected decodeDicom to fail');
}

const image = (extra: ReturnType<typeof el>[] = []) =>
  imageElements({ rows: 2, columns: 2, pixels: new Uint16Array([1, 2, 3, 4]), extra });

describe('not DICOM at all', () => {
  it.each([
    ['PNG', Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]), /PNG/],
    ['gzip', gzipSync(Buffer.from('hello')), /gzip/],
    ['JSON', Buffer.from('{\n  "00080016": {"vr": "UI"}}'), /JSON/],
    ['HTML', Buffer.from('<!doctype html><html>'), /HTML/],
  ])('%s → INPUT_UNSUPPORTED naming it', async (_n, bytes, pattern) => {
    const error = await failure(bytes);
    expect(error.code).toBe('INPUT_UNSUPPORTED');
    expect(error.userMessage).toMatch(pattern);
  });

  it('refuses a bare dataset with a stray leading byte instead of guessing', async () => {
    const bare = writeDicom(image(), { preamble: false, meta: false });
    const error = await failure(Buffer.concat([Buffer.from([0x20]), bare]));
    expect(error.code).toBe('INPUT_UNSUPPORTED');
  });
});

describe('DICOM that is not an image', () => {
  it('names a Structured Report', async () => {
    const error = await failure(fixture('sr_no_pixel_data.dcm'));
    expect(error.code).toBe('INPUT_NOT_IMAGE');
    expect(error.userMessage).toMatch(/Structured Report/);
  });

  it('names an RT Plan even without preamble or File Meta', async () => {
    const error = await failure(fixture('rtplan_no_preamble_explicit_le.dcm'));
    expect(error.code).toBe('INPUT_NOT_IMAGE');
    expect(error.userMessage).toMatch(/RT Plan/);
  });

  it('names a DICOMDIR', async () => {
    const bytes = writeDicom([el(0x00041130, 'CS', 'DISC1')], { sopClassUid: '1.2.840.10008.1.3.10' });
    const error = await failure(bytes);
    expect(error.userMessage).toMatch(/DICOMDIR/);
  });

  it('says when an image object has no Pixel Data', async () => {
    const error = await failure(writeDicom(image().filter((e) => e.tag !== 0x7fe00010)));
    expect(error.code).toBe('INPUT_NOT_IMAGE');
    expect(error.userMessage).toMatch(/no Pixel Data/);
  });
});

describe('damaged DICOM', () => {
  it('reports truncated native pixel data as corrupt', async () => {
    expect((await failure(fixture('mr_truncated.dcm'))).code).toBe('INPUT_CORRUPT');
    const short = writeDicom(imageElements({ rows: 4, columns: 4, pixels: new Uint16Array(10) }));
    expect((await failure(short)).code).toBe('INPUT_CORRUPT');
  });

  it('reports a corrupt JPEG 2000 codestream as corrupt, quickly', async () => {
    const started = Date.now();
    expect((await failure(fixture('j2k_embedded_sequence_delimiter.dcm'))).code).toBe('INPUT_CORRUPT');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('reports garbage in an encapsulated frame as corrupt for every codec', async () => {
    const junk = Uint8Array.from({ length: 200 }, (_, i) => (i * 7919) & 0xff);
    for (const ts of [
      TS.rle,
      TS.jpegBaseline,
      TS.jpegLs,
      TS.j2k,
      TS.htj2k,
      '1.2.840.10008.1.2.4.70',
      '1.2.840.10008.1.2.4.51',
    ]) {
      const bytes = writeDicom(
        imageElements({
          rows: 8,
          columns: 8,
          extra: [encapsulated([[Uint8Array.from([0xff, 0xd8, ...junk])]])],
        }),
        { transferSyntax: ts },
      );
      expect((await failure(bytes)).code, ts).toBe('INPUT_CORRUPT');
    }
  });

  it('rejects a Number of Frames that is not an integer string', async () => {
    const bytes = writeDicom(
      imageElements({ rows: 2, columns: 2, pixels: new Uint16Array(4), extra: [el(0x00280008, 'IS', '1A')] }),
    );
    const error = await failure(bytes);
    expect(error.code).toBe('INPUT_CORRUPT');
    expect(error.userMessage).toMatch(/Number of Frames/);
  });

  it('rejects pixel data without Rows/Columns', async () => {
    const bytes = writeDicom([
      el(0x00080016, 'UI', '1.2.840.10008.5.1.4.1.1.7'),
      el(0x7fe00010, 'OW', new Uint16Array(4)),
    ]);
    expect((await failure(bytes)).code).toBe('INPUT_CORRUPT');
  });
});

describe('damaged bytes never crash the decoder', () => {
  it.each([
    'mr_small_rle.dcm',
    'sc_jpegls_lossless_signed_15bit.dcm',
    'nm_wg04_j2k_lossy_signed.dcm',
    'nm_wg04_jpeg_extended_12bit.dcm',
  ])('%s truncated or with flipped bytes: decoded or an AppError, nothing else', async (name) => {
    const original = fixture(name);
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    for (let k = 0; k < 16; k++) {
      let bytes: Buffer;
      if (k % 2 === 0) {
        bytes = original.subarray(0, Math.floor(random() * original.length));
      } else {
        bytes = Buffer.from(original);
        for (let j = 0; j < 16; j++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      }
      await decodeDicom(bytes).catch((error: unknown) => expect(error).toBeInstanceOf(AppError));
    }
  });
});

describe('transfer syntaxes', () => {
  it('refuses an unknown syntax naming its UID', async () => {
    const bytes = writeDicom(image(), { transferSyntax: '1.2.840.10008.1.2.4.102' });
    const error = await failure(bytes);
    expect(error.code).toBe('TRANSFER_SYNTAX_UNSUPPORTED');
    expect(error.userMessage).toContain('1.2.840.10008.1.2.4.102');
    expect(error.userMessage).toMatch(/H\.264/);
  });

  it.each([
    ['no preamble, File Meta present', { preamble: false }],
    ['no File Meta, implicit VR', { preamble: false, meta: false, transferSyntax: TS.implicitLE }],
    ['no File Meta, explicit VR', { preamble: false, meta: false }],
  ])('reads %s', async (_n, options) => {
    const img = await decodeDicom(writeDicom(image(), options));
    expect(img.stats.storedMean).toBe(2.5);
  });
});
