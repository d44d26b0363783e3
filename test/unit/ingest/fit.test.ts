import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.ts';
import { fitDimensions, tokensFor } from '../../../src/ingest/fit.ts';
import { fitPng } from '../../../src/ingest/fit-png.ts';
import { pngChunks } from './png-chunks.ts';

describe('fitDimensions (Qwen3-VL: one token per 32×32 px)', () => {
  it('scales the longest side to the budget and snaps both sides to 32', () => {
    expect(fitDimensions(2048, 1536, 1024)).toEqual({ width: 1024, height: 768, tokens: 32 * 24 });
    // 1955×1841 → 1024×964.3 → 1024×960
    expect(fitDimensions(1955, 1841, 1024)).toEqual({ width: 1024, height: 960, tokens: 32 * 30 });
    // a budget that is not a multiple of 32 is never exceeded
    const odd = fitDimensions(3000, 3000, 1000);
    expect(odd.width).toBe(992);
    expect(odd.width % 32).toBe(0);
  });

  it('never upscales a small image', () => {
    const small = fitDimensions(300, 200, 1024);
    expect(small).toEqual({ width: 288, height: 192, tokens: 9 * 6 });
    expect(small.width).toBeLessThanOrEqual(300);
    expect(small.height).toBeLessThanOrEqual(200);
    expect(fitDimensions(512, 512, 1024)).toEqual({ width: 512, height: 512, tokens: 256 });
  });

  it('keeps at least one token per side for very thin images', () => {
    expect(fitDimensions(6000, 40, 1024)).toEqual({ width: 1024, height: 32, tokens: 32 });
  });

  it('native keeps the size exactly and still reports tokens', () => {
    expect(fitDimensions(1955, 1841, 'native')).toEqual({
      width: 1955,
      height: 1841,
      tokens: tokensFor(1955, 1841),
    });
    expect(tokensFor(1955, 1841)).toBe(61 * 58);
    expect(tokensFor(1024, 768)).toBe(32 * 24);
  });

  it('refuses aspect ratios over 200:1, in both orientations and in native mode', () => {
    for (const [w, h, size] of [
      [20_100, 100, 1024],
      [10, 2010, 1024],
      [20_100, 100, 'native'],
    ] as const) {
      expect(() => fitDimensions(w, h, size)).toThrow(AppError);
      try {
        fitDimensions(w, h, size);
      } catch (error) {
        expect((error as AppError).code).toBe('INPUT_ASPECT');
      }
    }
    expect(() => fitDimensions(20_000, 100, 1024)).not.toThrow();
  });
});

describe('fitPng (the out-of-memory ladder)', () => {
  it('shrinks a prepared PNG, keeps grey as grey, writes no metadata chunks', async () => {
    const width = 1024;
    const height = 768;
    const grey = Buffer.alloc(width * height);
    for (let i = 0; i < grey.length; i += 1) grey[i] = i % 251;
    const png = await sharp(grey, { raw: { width, height, channels: 1 } })
      .toColourspace('b-w')
      .png()
      .toBuffer();
    const out = await fitPng(png, 512);
    expect(out).toMatchObject({ width: 512, height: 384, tokens: 16 * 12 });
    const meta = await sharp(out.png).metadata();
    expect([meta.width, meta.height, meta.channels, meta.depth]).toEqual([512, 384, 1, 'uchar']);
    expect(pngChunks(out.png)).toEqual(['IHDR', 'IDAT', 'IEND']);
  });
});
