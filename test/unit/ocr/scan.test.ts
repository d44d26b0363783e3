import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAppError } from '../../../src/errors.ts';
import { closeTextScanner, scanBurnedInText } from '../../../src/ingest/ocr/index.ts';
import { changedPixels, meanIn, type PlantedText, readAllText, renderScene, squash } from './images.ts';

// Planted identity: a name, a date of birth and an ID, as a modality would burn them in.
const NAME = 'DOE^JOHN';
const DATE = '1957-03-14';
const ID = 'MRN 4455821';
const planted = (size: number): PlantedText[] => [
  { text: NAME, x: size * 0.03, y: size * 0.06, size: size / 32 },
  { text: DATE, x: size * 0.03, y: size * 0.11, size: size / 32 },
  { text: ID, x: size * 0.6, y: size * 0.06, size: size / 32 },
];
const PLANTED = [NAME, DATE, ID].map(squash);

function leaks(lines: string[]): string[] {
  const read = lines.map(squash).join('|');
  // Any planted string, or a telling piece of it (surname, year, the ID digits), counts as a leak.
  const pieces = [...PLANTED, 'DOE', 'JOHN', '1957', '4455821'];
  return pieces.filter((piece) => read.includes(piece));
}

describe('scanBurnedInText', () => {
  let withText: Buffer;
  let clean: Buffer;

  beforeAll(async () => {
    withText = await renderScene(768, 768, planted(768));
    clean = await renderScene(768, 768);
  });

  afterAll(async () => {
    await closeTextScanner();
  });

  it('the planted text is really readable before redaction (so the tests below can fail)', async () => {
    expect(leaks(await readAllText(withText)).length).toBeGreaterThanOrEqual(3);
  });

  it('redact: a planted name, date and ID are blacked out and cannot be read back', async () => {
    const result = await scanBurnedInText(withText, { mode: 'redact' });
    expect(result.found).toBe(true);
    expect(result.report.redacted).toBeGreaterThanOrEqual(2);
    expect(result.report.regions).toBe(result.report.redacted + result.report.keptMarkers);
    expect(leaks(await readAllText(result.png))).toEqual([]);
    // The name's area is now black; the anatomy in the middle is untouched.
    expect(await meanIn(result.png, { x0: 30, y0: 30, x1: 160, y1: 42 })).toBeLessThan(5);
    const mid = { x0: 200, y0: 200, x1: 568, y1: 568 };
    expect(await changedPixels(withText, result.png, mid)).toBe(0);
    // Same geometry and channel count as the input (greyscale stays greyscale).
    const [a, b] = await Promise.all([sharp(withText).metadata(), sharp(result.png).metadata()]);
    expect([b.width, b.height, b.channels]).toEqual([a.width, a.height, a.channels]);
  });

  it('redact: works on RGB images too', async () => {
    const rgb = await renderScene(640, 480, planted(640), 3);
    const result = await scanBurnedInText(rgb, { mode: 'redact' });
    expect(result.report.redacted).toBeGreaterThan(0);
    expect(leaks(await readAllText(result.png))).toEqual([]);
    expect((await sharp(result.png).metadata()).channels).toBe(3);
  });

  it('keeps laterality and position markers (RIGHT, PA ERECT, a lone L) while redacting the name', async () => {
    const size = 768;
    const image = await renderScene(size, size, [
      ...planted(size),
      { text: 'RIGHT', x: 20, y: 740, size: 28 },
      { text: 'PA ERECT', x: 560, y: 740, size: 28 },
      { text: 'L', x: 700, y: 400, size: 40 },
    ]);
    const result = await scanBurnedInText(image, { mode: 'redact' });
    expect(result.report.keptMarkers).toBeGreaterThanOrEqual(2);
    expect(result.report.redacted).toBeGreaterThan(0);
    expect(await changedPixels(image, result.png, { x0: 10, y0: 700, x1: 130, y1: 760 })).toBe(0);
    expect(await changedPixels(image, result.png, { x0: 550, y0: 700, x1: 768, y1: 760 })).toBe(0);
    expect(await changedPixels(image, result.png, { x0: 690, y0: 350, x1: 740, y1: 410 })).toBe(0);
    const after = (await readAllText(result.png)).map(squash).join('|');
    expect(after).toContain('RIGHT');
    expect(after).toContain('ERECT');
    expect(leaks(await readAllText(result.png))).toEqual([]);
  });

  it('reads slanted writing: a tilted "L MLO" is kept, a tilted name is blacked out', async () => {
    const image = await renderScene(768, 768, [
      { text: 'L MLO', x: 560, y: 60, size: 40, rotate: 35 },
      { text: 'DOE^JOHN 1957', x: 60, y: 560, size: 32, rotate: -30 },
    ]);
    expect(leaks(await readAllText(image))).not.toEqual([]);
    const result = await scanBurnedInText(image, { mode: 'redact' });
    expect(result.report.keptMarkers).toBe(1);
    expect(result.report.redacted).toBeGreaterThanOrEqual(1);
    expect(await changedPixels(image, result.png, { x0: 540, y0: 20, x1: 740, y1: 220 })).toBe(0);
    expect(leaks(await readAllText(result.png))).toEqual([]);
  });

  it('a clean image (gradients and shapes, no text) comes back byte-identical with nothing found', async () => {
    for (const mode of ['redact', 'flag', 'refuse'] as const) {
      const result = await scanBurnedInText(clean, { mode });
      expect(result.report).toEqual({ regions: 0, redacted: 0, keptMarkers: 0 });
      expect(result.found).toBe(false);
      expect(result.png.equals(clean)).toBe(true);
    }
  });

  it('flag: pixels stay as they were and the report says text was found', async () => {
    const result = await scanBurnedInText(withText, { mode: 'flag' });
    expect(result.found).toBe(true);
    expect(result.report.regions).toBeGreaterThan(0);
    expect(result.report.redacted).toBe(0);
    expect(result.png.equals(withText)).toBe(true);
  });

  it('refuse: throws BURNED_IN_TEXT with counts only, never the text', async () => {
    const error = await scanBurnedInText(withText, { mode: 'refuse' }).catch((e: unknown) => e);
    expect(isAppError(error, 'BURNED_IN_TEXT')).toBe(true);
    const serialised = JSON.stringify({ error, details: (error as { details: unknown }).details });
    for (const piece of ['DOE', 'JOHN', '1957', '4455821']) expect(serialised).not.toContain(piece);
  });

  it('refuse: markers alone do not stop a read', async () => {
    const image = await renderScene(512, 512, [{ text: 'LEFT', x: 20, y: 490, size: 24 }]);
    const result = await scanBurnedInText(image, { mode: 'refuse' });
    expect(result.found).toBe(false);
    expect(result.report.keptMarkers).toBe(1);
    expect(result.png.equals(image)).toBe(true);
  });

  it('returns only counts: no recognised text in the result', async () => {
    const result = await scanBurnedInText(withText, { mode: 'redact' });
    expect(Object.keys(result.report).sort()).toEqual(['keptMarkers', 'redacted', 'regions']);
    expect(Object.keys(result).sort()).toEqual(['found', 'png', 'report']);
  });

  it('a damaged PNG is an error, not a pass', async () => {
    const error = await scanBurnedInText(Buffer.from('not a png'), { mode: 'redact' }).catch(
      (e: unknown) => e,
    );
    expect(isAppError(error)).toBe(true);
  });
});
