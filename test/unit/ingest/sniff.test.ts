import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.ts';
import { sniff } from '../../../src/ingest/sniff.ts';

const pixels = { raw: { width: 8, height: 8, channels: 3 as const } };
const image = () => sharp(Buffer.alloc(8 * 8 * 3, 128), pixels);

function refusal(bytes: Uint8Array): AppError {
  try {
    sniff(bytes);
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('sniff accepted the bytes');
}

/** A Part 10 file: 128-byte preamble, "DICM", then one File Meta element (PS3.10 §7.1). */
function part10(preamble = Buffer.alloc(128)): Buffer {
  const meta = Buffer.from([0x02, 0x00, 0x10, 0x00, 0x55, 0x49, 0x14, 0x00]);
  return Buffer.concat([preamble, Buffer.from('DICM'), meta, Buffer.from('1.2.840.10008.1.2.1\0')]);
}

describe('sniff (content only)', () => {
  it('recognises raster formats made by a real encoder', async () => {
    expect(sniff(await image().png().toBuffer())).toEqual({ kind: 'png' });
    expect(sniff(await image().jpeg().toBuffer())).toEqual({ kind: 'jpeg' });
    expect(sniff(await image().webp().toBuffer())).toEqual({ kind: 'webp' });
  });

  it('recognises TIFF in both byte orders', async () => {
    const little = await image().tiff().toBuffer();
    expect(sniff(little)).toEqual({ kind: 'tiff' });
    const big = Buffer.from(little);
    big.set([0x4d, 0x4d, 0x00, 0x2a], 0);
    expect(sniff(big)).toEqual({ kind: 'tiff' });
  });

  it('recognises DICOM Part 10, even when the preamble looks like TIFF', () => {
    expect(sniff(part10())).toEqual({ kind: 'dicom', preamble: true });
    const tiffPreamble = Buffer.alloc(128);
    tiffPreamble.set([0x49, 0x49, 0x2a, 0x00]);
    expect(sniff(part10(tiffPreamble))).toEqual({ kind: 'dicom', preamble: true });
  });

  it('recognises DICOM without a preamble, explicit and implicit VR', () => {
    // (0008,0005) CS "ISO_IR 100", explicit VR little endian
    const explicit = Buffer.from([
      0x08,
      0x00,
      0x05,
      0x00,
      0x43,
      0x53,
      0x0a,
      0x00,
      ...Buffer.from('ISO_IR 100'),
    ]);
    expect(sniff(explicit)).toEqual({ kind: 'dicom', preamble: false });
    // the same element, implicit VR: 4-byte length
    const implicit = Buffer.from([0x08, 0x00, 0x05, 0x00, 0x0a, 0, 0, 0, ...Buffer.from('ISO_IR 100')]);
    expect(sniff(implicit)).toEqual({ kind: 'dicom', preamble: false });
    // (0002,0010) UI in a bare File Meta group
    expect(sniff(part10().subarray(132))).toEqual({ kind: 'dicom', preamble: false });
  });

  it('refuses a dataset shifted by one junk byte instead of guessing', () => {
    const shifted = Buffer.from([0x20, 0x08, 0x00, 0x05, 0x00, 0x43, 0x53, 0x0a, 0x00, 0x49, 0x53, 0x4f]);
    expect(refusal(shifted).code).toBe('INPUT_UNSUPPORTED');
  });

  it('gives an HTML page its own code, worded without guessing where it came from', () => {
    for (const page of ['<!DOCTYPE html><html><body>Sign in</body></html>', '\ufeff  <html lang="en">']) {
      const error = refusal(Buffer.from(page));
      expect(error.code).toBe('INPUT_HTML');
      expect(error.userMessage).toContain('web page');
      expect(error.userMessage).not.toContain('files:read');
    }
  });

  it('names each non-image format in its refusal', () => {
    const cases: Array<[Uint8Array, string]> = [
      [gzipSync(Buffer.from('not an image')), 'a gzip archive'],
      [Buffer.from('PK\x03\x04\x14\x00\x00\x00', 'latin1'), 'a zip archive'],
      [Buffer.from('%PDF-1.7\n%\xe2\xe3', 'latin1'), 'a PDF document'],
      [Buffer.from('{\n  "00080016": {\n    "vr": "UI",\n    "Value": ["1.2"]}}'), 'DICOM JSON'],
      [Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1'), 'GIF'],
    ];
    for (const [bytes, name] of cases) {
      const error = refusal(bytes);
      expect(error.code).toBe('INPUT_UNSUPPORTED');
      expect(error.userMessage).toContain(name);
    }
  });

  it('refuses empty and unknown content with a list of what it reads', () => {
    expect(refusal(new Uint8Array()).userMessage).toContain('empty');
    const unknown = refusal(Buffer.from('just some notes about a patient'));
    expect(unknown.code).toBe('INPUT_UNSUPPORTED');
    expect(unknown.userMessage).toContain('PNG');
  });
});
