import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { prepareImage } from '../../../src/ingest/index.ts';
import { closeTextScanner } from '../../../src/ingest/ocr/index.ts';
import { createDecodePool } from '../../../src/ingest/worker/pool.ts';
import { pngChunks } from './png-chunks.ts';

const pool = createDecodePool({ size: 2 });
afterAll(() => Promise.all([pool.close(), closeTextScanner()]));

/** A noisy 16-bit greyscale PNG: slow enough to decode and window that a blocked loop would show. */
async function large16BitPng(side: number): Promise<Buffer> {
  const values = new Uint16Array(side * side);
  let seed = 7;
  for (let i = 0; i < values.length; i += 1) {
    seed = (seed * 1_103_515_245 + 12_345) >>> 0;
    values[i] = (seed >>> 16) & 0x0fff;
  }
  return sharp(values, { raw: { width: side, height: side, channels: 1 } })
    .toColourspace('grey16')
    .png({ compressionLevel: 1 })
    .toBuffer();
}

/** A dark radiograph-like image with a patient name and date written into the pixels. */
async function imageWithText(): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="512">
    <rect width="100%" height="100%" fill="#101010"/>
    <ellipse cx="320" cy="280" rx="220" ry="200" fill="#606060"/>
    <text x="24" y="56" font-family="DejaVu Sans, sans-serif" font-size="34" fill="#f0f0f0">SMITH JOHN 12/03/1951</text>
  </svg>`;
  return sharp(Buffer.from(svg)).greyscale().png().toBuffer();
}

describe('prepareImage', () => {
  it('returns a fitted, 8-bit, metadata-free PNG with its sha256', async () => {
    const rgb = Buffer.alloc(1500 * 900 * 3);
    for (let i = 0; i < rgb.length; i += 1) rgb[i] = (i * 7) % 256;
    const jpeg = await sharp(rgb, { raw: { width: 1500, height: 900, channels: 3 } })
      .jpeg()
      .withExif({ IFD0: { Artist: 'CANARY-ARTIST-4471' } })
      .toBuffer();
    const image = await prepareImage(jpeg, {}, pool);
    expect([image.width, image.height, image.tokens]).toEqual([1024, 608, 32 * 19]);
    expect(image.sha256).toBe(createHash('sha256').update(image.png).digest('hex'));
    const meta = await sharp(image.png).metadata();
    expect([meta.format, meta.width, meta.height, meta.depth, meta.channels]).toEqual([
      'png',
      1024,
      608,
      'uchar',
      3,
    ]);
    expect(pngChunks(image.png)).toEqual(['IHDR', 'IDAT', 'IEND']);
    expect(image.png.includes('CANARY-ARTIST-4471')).toBe(false);
    expect(image.source).toMatchObject({ kind: 'jpeg', rows: 900, columns: 1500, frames: 1, frameIndex: 1 });
  });

  it("'native' keeps the size and a smaller maxSide shrinks it", async () => {
    const png = await sharp(Buffer.alloc(700 * 500, 60), { raw: { width: 700, height: 500, channels: 1 } })
      .toColourspace('b-w')
      .png()
      .toBuffer();
    const native = await prepareImage(png, { maxSide: 'native' }, pool);
    expect([native.width, native.height, native.tokens]).toEqual([700, 500, 22 * 16]);
    const small = await prepareImage(png, { maxSide: 256 }, pool);
    expect([small.width, small.height, small.tokens]).toEqual([256, 160, 8 * 5]);
  });

  it('applies the byte cap before decoding and sniffs before decoding', async () => {
    await expect(prepareImage(new Uint8Array(2048), { maxBytes: 1024 }, pool)).rejects.toMatchObject({
      code: 'INPUT_TOO_LARGE',
    });
    await expect(prepareImage(Buffer.from('<!doctype html><p>login'), {}, pool)).rejects.toMatchObject({
      code: 'INPUT_HTML',
    });
  });

  it('says where a web page came from: Slack (a missing scope), the console upload, a file', async () => {
    const page = Buffer.from('<!doctype html><p>login');
    const messageFor = async (source: 'slack' | 'console' | 'file') =>
      ((await prepareImage(page, { source }, pool).catch((e: unknown) => e)) as { userMessage: string })
        .userMessage;
    expect(await messageFor('slack')).toContain('files:read');
    expect(await messageFor('console')).toContain('The uploaded file is a web page');
    expect(await messageFor('console')).not.toContain('files:read');
    expect(await messageFor('file')).toContain('This file is a web page');
  });

  it('refuses aspect ratios over 200:1 with a coded error from the worker', async () => {
    const png = await sharp(Buffer.alloc(4020 * 20, 1), { raw: { width: 4020, height: 20, channels: 1 } })
      .toColourspace('b-w')
      .png()
      .toBuffer();
    await expect(prepareImage(png, {}, pool)).rejects.toMatchObject({ code: 'INPUT_ASPECT' });
  });

  it('stops a decode that overruns the time cap, then keeps serving with a fresh worker', async () => {
    const png = await large16BitPng(1500);
    await expect(prepareImage(png, { timeoutMs: 1 }, pool)).rejects.toMatchObject({
      code: 'DECODE_TIMEOUT',
    });
    const image = await prepareImage(png, {}, pool);
    expect(image.window.source).toBe('percentile');
  });

  it('keeps the event loop responsive while a large image decodes', async () => {
    const png = await large16BitPng(3000);
    const started = performance.now();
    let last = started;
    let maxGap = 0;
    let ticks = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks += 1;
    }, 5);
    try {
      await prepareImage(png, {}, pool);
    } finally {
      clearInterval(timer);
    }
    const duration = performance.now() - started;
    // Decoding 9 Mpx of 16-bit data plus the JS percentile window takes hundreds of ms; on the main
    // thread it would be one long gap. In a worker the timer keeps firing throughout.
    expect(ticks).toBeGreaterThan(5);
    expect(maxGap).toBeLessThan(duration / 2);
  });

  it('hands the fitted image to the burned-in text scan: redact, flag and refuse', async () => {
    const png = await imageWithText();
    const flagged = await prepareImage(png, { burnedInText: 'flag' }, pool);
    expect(flagged.deid.burnedInText?.regions).toBeGreaterThan(0);
    const redacted = await prepareImage(png, { burnedInText: 'redact' }, pool);
    expect(redacted.deid.burnedInText?.redacted).toBeGreaterThan(0);
    expect(redacted.sha256).not.toBe(flagged.sha256);
    expect(redacted.sha256).toBe(createHash('sha256').update(redacted.png).digest('hex'));
    // the text band is blacked out in the redacted image, untouched in the flagged one
    const band = async (image: Buffer) => {
      // stats() reads the pipeline's input, so cut the band out first
      const cut = await sharp(image).extract({ left: 24, top: 24, width: 360, height: 40 }).png().toBuffer();
      return (await sharp(cut).stats()).channels[0]!;
    };
    expect((await band(flagged.png)).max).toBeGreaterThan(200);
    expect((await band(flagged.png)).mean).toBeGreaterThan(30);
    expect((await band(redacted.png)).mean).toBeLessThan(5);
    await expect(prepareImage(png, { burnedInText: 'refuse' }, pool)).rejects.toMatchObject({
      code: 'BURNED_IN_TEXT',
    });
  });
});
