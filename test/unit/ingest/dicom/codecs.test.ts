/**
 * Every codec: known pixels encoded by a real encoder (or a hand-checked RLE), wrapped in a DICOM,
 * decoded back value for value; plus small open-licence fixtures (test/fixtures/README.md) whose
 * expected statistics come from reference.json (pydicom + GDCM), not from this decoder.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeDicom } from '../../../../src/ingest/dicom/index.js';
import { encapsulated, imageElements, TS, writeDicom } from '../../../helpers/dicom-writer.js';
import {
  encodeHtj2k,
  encodeJ2k,
  encodeJ2kRgb,
  encodeJpegBaseline,
  encodeJpegLs,
  rleEncode,
} from './encoders.js';

const W = 64;
const H = 48;
const ramp12 = Uint16Array.from({ length: W * H }, (_, i) => (i * 37) % 4096);
const mean12 = ramp12.reduce((s, v) => s + v, 0) / ramp12.length;

describe('lossless codecs round-trip exactly', () => {
  it.each([
    ['JPEG 2000', encodeJ2k, TS.j2k],
    ['HTJ2K', encodeHtj2k, TS.htj2k],
    ['JPEG-LS', encodeJpegLs, TS.jpegLs],
  ] as const)('%s 12-bit', async (_name, encode, ts) => {
    const codestream = await encode(new Uint8Array(ramp12.buffer), W, H, 12);
    const bytes = writeDicom(
      imageElements({ rows: H, columns: W, bitsStored: 12, extra: [encapsulated([[codestream]])] }),
      {
        transferSyntax: ts,
      },
    );
    const img = await decodeDicom(bytes);
    expect(img.stats).toMatchObject({ storedMin: 0, storedMax: 4095, storedMean: mean12 });
  });

  it('JPEG 2000 colour with the reversible colour transform (YBR_RCT) comes back as the RGB it encoded', async () => {
    const rgb = Uint8Array.from({ length: W * H * 3 }, (_, i) =>
      i % 3 === 0 ? i % 251 : i % 3 === 1 ? 255 - (i % 199) : 40,
    );
    const codestream = await encodeJ2kRgb(rgb, W, H);
    const bytes = writeDicom(
      imageElements({
        rows: H,
        columns: W,
        bitsAllocated: 8,
        samples: 3,
        photometric: 'YBR_RCT',
        extra: [encapsulated([[codestream]])],
      }),
      { transferSyntax: TS.j2k },
    );
    const img = await decodeDicom(bytes);
    expect(img.channels).toBe(3);
    expect(Buffer.from(img.pixels).equals(Buffer.from(rgb))).toBe(true);
  });

  it('RLE 16-bit signed, two frames without an offset table, one fragment each', async () => {
    const frame = (offset: number) => {
      const values = Int16Array.from({ length: 16 }, (_, i) => (i - 8) * 100 + offset);
      const hi = new Uint8Array(16);
      const lo = new Uint8Array(16);
      values.forEach((v, i) => {
        hi[i] = (v >> 8) & 0xff;
        lo[i] = v & 0xff;
      });
      return { values, rle: rleEncode([hi, lo]) };
    };
    const a = frame(0);
    const b = frame(5);
    const bytes = writeDicom(
      imageElements({
        rows: 4,
        columns: 4,
        signed: true,
        frames: 2,
        extra: [encapsulated([[a.rle], [b.rle]], false)],
      }),
      { transferSyntax: TS.rle },
    );
    const second = await decodeDicom(bytes, { frame: 2 });
    expect(second.stats).toMatchObject({ storedMin: -795, storedMax: 705 });
    expect(second.stats.storedMean).toBeCloseTo(b.values.reduce((s, v) => s + v, 0) / 16, 10);
  });

  it('JPEG baseline, a frame split over several fragments without an offset table', async () => {
    const grey = Uint8Array.from({ length: W * H }, (_, i) => (i >> 4) & 0xff);
    const codestream = await encodeJpegBaseline(grey, W, H, 1);
    const cut = Math.floor(codestream.length / 2);
    const frames = [[codestream.subarray(0, cut), codestream.subarray(cut)], [codestream]];
    const bytes = writeDicom(
      imageElements({
        rows: H,
        columns: W,
        bitsAllocated: 8,
        frames: 2,
        extra: [encapsulated(frames, false)],
      }),
      { transferSyntax: TS.jpegBaseline },
    );
    const first = await decodeDicom(bytes, { frame: 1 });
    const second = await decodeDicom(bytes, { frame: 2 });
    expect(first.stats).toEqual(second.stats);
    // Lossy: the mean of a smooth ramp survives within a level.
    expect(Math.abs(first.stats.storedMean - grey.reduce((s, v) => s + v, 0) / grey.length)).toBeLessThan(1);
  });
});

const fixture = (name: string) => readFileSync(new URL(`../../../fixtures/dicom/${name}`, import.meta.url));

describe('fixtures match the reference decoder (pydicom + GDCM)', () => {
  it.each([
    ['mr_small_rle.dcm', { storedMin: 127, storedMax: 2145, storedMean: 518.881348 }],
    ['mr_small_explicit_big_endian.dcm', { storedMin: 127, storedMax: 2145, storedMean: 518.881348 }],
    ['ot_deflated_explicit_le.dcm', { storedMin: 0, storedMax: 255, storedMean: 127.115967 }],
    ['sc_rgb_jpeg_lossless_sv1.dcm', { storedMin: 0, storedMax: 255, storedMean: 127.7 }],
    [
      'sc_jpegls_lossless_signed_15bit.dcm',
      { storedMin: -16384, storedMax: 16383, storedMean: -4043.623962 },
    ],
  ])('%s (lossless: exact)', async (name, expected) => {
    const img = await decodeDicom(fixture(name));
    expect(img.stats.storedMin).toBe(expected.storedMin);
    expect(img.stats.storedMax).toBe(expected.storedMax);
    expect(img.stats.storedMean).toBeCloseTo(expected.storedMean, 5);
  });

  it.each([
    ['nm_wg04_j2k_lossy_signed.dcm', { storedMin: -30, storedMax: 245, storedMean: 13.45816 }],
    ['nm_wg04_jpeg_extended_12bit.dcm', { storedMin: 0, storedMax: 264, storedMean: 14.369991 }],
    ['sc_rgb_jpeg_no_color_transform.dcm', { storedMin: 134, storedMax: 252, storedMean: 243.971593 }],
  ])('%s (lossy: within tolerance)', async (name, expected) => {
    const img = await decodeDicom(fixture(name));
    expect(Math.abs(img.stats.storedMin - expected.storedMin)).toBeLessThanOrEqual(2);
    expect(Math.abs(img.stats.storedMax - expected.storedMax)).toBeLessThanOrEqual(2);
    expect(Math.abs(img.stats.storedMean - expected.storedMean)).toBeLessThan(0.25);
  });

  it('JPEG baseline YBR_FULL_422 comes out as RGB matching the converted reference', async () => {
    const img = await decodeDicom(fixture('sc_rgb_jpeg_baseline_ybr_full_422.dcm'));
    expect(img.channels).toBe(3);
    expect(img.stats.rgbMean).toBeCloseTo(127.545, 1);
  });

  it('MR with its window gives the reference windowed mean', async () => {
    const img = await decodeDicom(fixture('mr_small_rle.dcm'));
    expect(img.window).toMatchObject({ center: 600, width: 1600, source: 'dataset' });
    const mean = img.pixels.reduce((s, v) => s + v, 0) / img.pixels.length;
    expect(Math.abs(mean - 113.061352)).toBeLessThan(1);
  });
});
