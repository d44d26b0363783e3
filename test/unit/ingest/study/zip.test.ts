/** Every way a zip can be refused (issue 17): each bound is hit by a real archive built with fflate. */
import { strToU8, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { isZip, unzipFiles, type ZipLimits } from '../../../../src/ingest/study/zip.ts';

const limits: ZipLimits = { maxEntries: 8, maxInflatedBytes: 1024 * 1024, maxDepth: 3 };

const codeOf = (run: () => unknown): string | undefined => {
  try {
    run();
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
};

/** Overwrite a little-endian field at every local (PK\3\4) and central (PK\1\2) header. */
function patchHeaders(
  zip: Uint8Array,
  local: number,
  central: number,
  write: (v: DataView, at: number) => void,
) {
  const out = zip.slice();
  const view = new DataView(out.buffer);
  for (let at = 0; at + 4 <= out.length; at++) {
    const sig = view.getUint32(at, true);
    if (sig === 0x04034b50) write(view, at + local);
    if (sig === 0x02014b50) write(view, at + central);
  }
  return out;
}

describe('unzipFiles', () => {
  it('returns the files in archive order, skipping folders, __MACOSX, hidden files and DICOMDIR', () => {
    const zip = zipSync({
      'series/': new Uint8Array(0),
      'series/IM1': strToU8('first'),
      'series/IM2': strToU8('second'),
      '__MACOSX/series/._IM1': strToU8('fork'),
      'series/.DS_Store': strToU8('finder'),
      DICOMDIR: strToU8('directory'),
    });
    expect(isZip(zip)).toBe(true);
    expect(unzipFiles(zip, limits).map((bytes) => new TextDecoder().decode(bytes))).toEqual([
      'first',
      'second',
    ]);
  });

  it('refuses more entries than the cap (ARCHIVE_TOO_LARGE)', () => {
    const files = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`IM${i}`, strToU8('x')]));
    expect(codeOf(() => unzipFiles(zipSync(files), limits))).toBe('ARCHIVE_TOO_LARGE');
    expect(unzipFiles(zipSync(Object.fromEntries(Object.entries(files).slice(0, 8))), limits)).toHaveLength(
      8,
    );
  });

  it('stops a zip bomb while inflating, even when its headers claim tiny sizes', () => {
    const bomb = zipSync({ big: new Uint8Array(64 * 1024 * 1024) }, { level: 9 });
    expect(bomb.length).toBeLessThan(200 * 1024);
    expect(codeOf(() => unzipFiles(bomb, limits))).toBe('ARCHIVE_TOO_LARGE');
    // Local header uncompressed size at +22, central at +24: claim 10 bytes.
    const liar = patchHeaders(bomb, 22, 24, (v, at) => v.setUint32(at, 10, true));
    expect(codeOf(() => unzipFiles(liar, limits))).toBe('ARCHIVE_TOO_LARGE');
  });

  it('counts the total over all entries, not per entry', () => {
    const files = Object.fromEntries(
      Array.from({ length: 3 }, (_, i) => [`IM${i}`, new Uint8Array(400 * 1024)]),
    );
    expect(codeOf(() => unzipFiles(zipSync(files), limits))).toBe('ARCHIVE_TOO_LARGE');
  });

  it.each([
    ['../../etc/cron.d/evil'],
    ['series/../../evil'],
    ['/etc/passwd'],
    ['C:/Windows/evil.dcm'],
    ['..\\..\\evil.dcm'],
  ])('refuses an entry named %s (zip-slip) with ARCHIVE_UNSAFE', (name) => {
    expect(codeOf(() => unzipFiles(zipSync({ ok: strToU8('a'), [name]: strToU8('b') }), limits))).toBe(
      'ARCHIVE_UNSAFE',
    );
  });

  it('refuses a zip inside the zip (ARCHIVE_UNSAFE)', () => {
    const inner = zipSync({ IM1: strToU8('x') });
    expect(codeOf(() => unzipFiles(zipSync({ 'inner.zip': inner }), limits))).toBe('ARCHIVE_UNSAFE');
    // Found by content, not by name.
    expect(codeOf(() => unzipFiles(zipSync({ IM2: inner }), limits))).toBe('ARCHIVE_UNSAFE');
  });

  it('refuses folders nested deeper than the cap', () => {
    expect(unzipFiles(zipSync({ 'a/b/c/IM1': strToU8('x') }), limits)).toHaveLength(1);
    expect(codeOf(() => unzipFiles(zipSync({ 'a/b/c/d/IM1': strToU8('x') }), limits))).toBe(
      'ARCHIVE_TOO_LARGE',
    );
  });

  it('refuses a truncated zip and one without its central directory (ARCHIVE_CORRUPT)', () => {
    const zip = zipSync(
      { IM1: new Uint8Array(5000).fill(7), IM2: new Uint8Array(5000).fill(9) },
      { level: 0 },
    );
    expect(codeOf(() => unzipFiles(zip.subarray(0, zip.length - 30), limits))).toBe('ARCHIVE_CORRUPT');
    // Cut after the first entry: the first file alone would stream out fine.
    expect(codeOf(() => unzipFiles(zip.subarray(0, 5100), limits))).toBe('ARCHIVE_CORRUPT');
    expect(codeOf(() => unzipFiles(new Uint8Array([0x50, 0x4b, 0x03, 0x04]), limits))).toBe(
      'ARCHIVE_CORRUPT',
    );
  });

  it('refuses compression it cannot open (LZMA, AES) with ARCHIVE_CORRUPT', () => {
    const zip = zipSync({ IM1: strToU8('hello hello hello') });
    // Compression method: local header +8, central +10; 14 = LZMA, 99 = AES (APPNOTE 4.4.5).
    for (const method of [14, 99]) {
      const patched = patchHeaders(zip, 8, 10, (v, at) => v.setUint16(at, method, true));
      expect(codeOf(() => unzipFiles(patched, limits))).toBe('ARCHIVE_CORRUPT');
    }
  });

  it('gives every refusal a message that says what to do, without the entry name', () => {
    try {
      unzipFiles(zipSync({ '../SMITH_JOHN/IM1': strToU8('x') }), limits);
      expect.unreachable();
    } catch (error) {
      const message = (error as { userMessage: string }).userMessage;
      expect(message).toMatch(/zip/i);
      expect(message).not.toContain('SMITH');
    }
  });
});
