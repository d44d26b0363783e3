import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.ts';
import { decodeRaster } from '../../../src/ingest/raster/index.ts';

const mean = (values: Uint8Array, from = 0, to = values.length): number => {
  let sum = 0;
  for (let i = from; i < to; i += 1) sum += values[i]!;
  return sum / (to - from);
};

describe('raster decoding through sharp', () => {
  it('applies EXIF orientation 6 (rotate 90° clockwise): sides swap, left becomes top', async () => {
    const width = 64;
    const height = 32;
    const rgb = Buffer.alloc(width * height * 3);
    for (let y = 0; y < height; y += 1) {
      for (let x = 0; x < width / 2; x += 1) rgb.fill(250, (y * width + x) * 3, (y * width + x) * 3 + 3);
    }
    const jpeg = await sharp(rgb, { raw: { width, height, channels: 3 } })
      .jpeg({ quality: 95 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    expect((await sharp(jpeg).metadata()).orientation).toBe(6);
    const image = await decodeRaster(jpeg, 'jpeg');
    expect([image.width, image.height]).toEqual([32, 64]);
    expect([image.source.columns, image.source.rows]).toEqual([32, 64]);
    const half = (image.width * image.height) / 2;
    expect(mean(image.pixels, 0, half)).toBeGreaterThan(200);
    expect(mean(image.pixels, half)).toBeLessThan(50);
  });

  it('never carries EXIF text into the pixels it returns and counts the dropped block', async () => {
    const canary = 'CANARY^PATIENT^7731';
    const jpeg = await sharp(Buffer.alloc(32 * 32 * 3, 90), { raw: { width: 32, height: 32, channels: 3 } })
      .jpeg()
      .withExif({ IFD0: { ImageDescription: canary, Artist: canary } })
      .toBuffer();
    expect(jpeg.includes(canary)).toBe(true);
    const image = await decodeRaster(jpeg, 'jpeg');
    expect(Buffer.from(image.pixels).includes(canary)).toBe(false);
    expect(image.deid.removedTags).toBeGreaterThanOrEqual(1);
    expect(image.deid.burnedInAnnotation).toBe(true);
    expect(image.meta).toEqual({});
  });

  it('keeps 16-bit greyscale at full depth and windows it by percentile, ignoring hot pixels', async () => {
    const width = 256;
    const height = 256;
    const values = new Uint16Array(width * height);
    // a ramp over 1000..3047 with a few saturated pixels an early 8-bit cast would have been ruled by
    for (let i = 0; i < values.length; i += 1) values[i] = 1000 + (i % width) * 8;
    for (let i = 0; i < 20; i += 1) values[i * 997] = 65_535;
    const png = await sharp(values, { raw: { width, height, channels: 1 } })
      .toColourspace('grey16')
      .png()
      .toBuffer();
    expect((await sharp(png).metadata()).depth).toBe('ushort');
    const image = await decodeRaster(png, 'png');
    expect(image.channels).toBe(1);
    expect(image.window.source).toBe('percentile');
    expect(image.window.center).toBeGreaterThan(1900);
    expect(image.window.center).toBeLessThan(2150);
    // left edge dark, right edge bright, the middle column mid-grey: the ramp survived
    const row = image.pixels.subarray(width * 10, width * 11);
    expect(row[0]).toBeLessThan(10);
    expect(row[width - 1]).toBeGreaterThan(245);
    expect(Math.abs(row[width / 2]! - 128)).toBeLessThan(8);

    const user = await decodeRaster(png, 'png', { window: { center: 1512, width: 1024 } });
    expect(user.window).toMatchObject({ source: 'user', center: 1512, width: 1024 });
    expect(user.pixels[width * 10 + 64]).toBeGreaterThan(120); // value 1512 sits at the centre
    expect(user.pixels[width * 10 + 64]).toBeLessThan(136);
    expect(user.pixels[width * 10 + 200]).toBe(255);
    // a CT preset means nothing for raster values: percentile again
    expect((await decodeRaster(png, 'png', { window: 'lung' })).window.source).toBe('percentile');
  });

  it('ignores CT presets for raster images (no Hounsfield units) and says why', async () => {
    const png = await sharp(Buffer.alloc(64 * 64, 100), { raw: { width: 64, height: 64, channels: 1 } })
      .toColourspace('b-w')
      .png()
      .toBuffer();
    const image = await decodeRaster(png, 'png', { window: 'lung' });
    expect(image.window.source).toBe('none');
    expect(image.pixels.every((value) => value === 100)).toBe(true);
  });

  it('flattens alpha onto black and turns a grey picture saved as RGB into one channel', async () => {
    const width = 32;
    const rgba = Buffer.alloc(width * width * 4);
    for (let i = 0; i < width * width; i += 1) {
      rgba.fill(180, i * 4, i * 4 + 3);
      rgba[i * 4 + 3] = i < (width * width) / 2 ? 255 : 0;
    }
    const png = await sharp(rgba, { raw: { width, height: width, channels: 4 } })
      .png()
      .toBuffer();
    const image = await decodeRaster(png, 'png');
    expect(image.channels).toBe(1);
    expect(image.pixels[0]).toBe(180);
    expect(image.pixels[width * width - 1]).toBe(0);
  });

  it('keeps colour images in colour', async () => {
    const rgb = Buffer.alloc(32 * 32 * 3);
    for (let i = 0; i < rgb.length; i += 3) rgb.set([200, 40, 40], i);
    const image = await decodeRaster(
      await sharp(rgb, { raw: { width: 32, height: 32, channels: 3 } })
        .png()
        .toBuffer(),
      'png',
    );
    expect(image.channels).toBe(3);
    expect(image.source.photometric).toBe('RGB');
    expect(Array.from(image.pixels.subarray(0, 3))).toEqual([200, 40, 40]);
  });

  it('refuses images over the pixel cap before decoding them, and corrupt files with a code', async () => {
    const png = await sharp(Buffer.alloc(100 * 100 * 3), { raw: { width: 100, height: 100, channels: 3 } })
      .png()
      .toBuffer();
    await expect(decodeRaster(png, 'png', { maxPixels: 5000 })).rejects.toMatchObject({
      code: 'INPUT_TOO_LARGE',
    });
    const truncated = png.subarray(0, 60);
    const error = await decodeRaster(truncated, 'png').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('INPUT_CORRUPT');
  });

  it('picks a frame of a multi-page TIFF: the middle by default, --frame N when asked, a coded refusal beyond', async () => {
    const page = (level: number) =>
      sharp({ create: { width: 32, height: 32, channels: 3, background: { r: level, g: level, b: level } } })
        .png()
        .toBuffer();
    const tiff = await sharp(await Promise.all([10, 100, 200].map(page)), { join: { animated: true } })
      .tiff()
      .toBuffer();
    const middle = await decodeRaster(tiff, 'tiff');
    expect(middle.source).toMatchObject({ frames: 3, frameIndex: 2, rows: 32, columns: 32 });
    expect(middle.pixels[0]).toBe(100);
    const third = await decodeRaster(tiff, 'tiff', { frame: 3 });
    expect(third.pixels[0]).toBe(200);
    await expect(decodeRaster(tiff, 'tiff', { frame: 4 })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(decodeRaster(tiff, 'tiff', { maxFrames: 2 })).rejects.toMatchObject({
      code: 'INPUT_TOO_LARGE',
    });
  });
});
