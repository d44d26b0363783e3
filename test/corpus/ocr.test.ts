import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { closeDecodePool, prepareImage } from '../../src/ingest/index.ts';
import { closeTextScanner, scanBurnedInText } from '../../src/ingest/ocr/index.ts';
import { isPositionMarker } from '../../src/ingest/ocr/markers.ts';
import { decodePng } from '../../src/ingest/ocr/raster.ts';
import { burnedInTextSet, measureRecall } from '../unit/ocr/burned-in-set.ts';
import { changedPixels, meanIn, readAllText, squash } from '../unit/ocr/images.ts';

/**
 * Burned-in text over the real corpus (issue 9): ultrasound screens lose their identifying text and
 * keep their anatomy; clean CT, MR and radiographs come out untouched. Skips without ../shared/corpus.
 */
const corpus = fileURLToPath(new URL('../../../shared/corpus', import.meta.url));
const hasCorpus = existsSync(join(corpus, 'dicom'));

type Rect = { x0: number; y0: number; x1: number; y1: number };

interface DicomDecoder {
  decodeDicom(
    bytes: Uint8Array,
  ): Promise<{ width: number; height: number; channels: 1 | 3; pixels: Uint8Array }>;
}

/** The project's DICOM decoder → an 8-bit PNG, as ingest hands it on before OCR. */
async function dicomPng(file: string): Promise<Buffer> {
  const { decodeDicom } = (await import('../../src/ingest/dicom/index.ts')) as DicomDecoder;
  const image = await decodeDicom(new Uint8Array(readFileSync(join(corpus, 'dicom', file))));
  return sharp(image.pixels, { raw: { width: image.width, height: image.height, channels: image.channels } })
    .png()
    .toBuffer();
}

/** Readable lines of three or more letters/digits that are not position markers. */
async function identifyingText(png: Buffer): Promise<string[]> {
  const lines = await readAllText(png);
  return lines.filter((line) => squash(line).length >= 3 && !isPositionMarker(line, 1));
}

interface BurnedInCase {
  file: string;
  /** Strings (letters and digits only) the original shows: institution, date, time, IDs. */
  identifying: string[];
  /** Where some of that text sits: must be black afterwards. */
  textAt: Rect[];
  /** Image content away from the text: must be untouched. */
  anatomy: Rect;
}

const burnedIn: BurnedInCase[] = [
  {
    file: 'us_rgb_burned_in_text_explicit_le.dcm',
    identifying: ['BAPTISTMEDCTR', 'LYMPHNODE'],
    textAt: [{ x0: 20, y0: 25, x1: 170, y1: 40 }],
    anatomy: { x0: 100, y0: 150, x1: 540, y1: 290 },
  },
  {
    file: 'us_palette_philips_ob_burned_in.dcm',
    identifying: ['11052514282', '5252011', 'PHILIPSHEALTHCARE', '25622PM'],
    textAt: [
      { x0: 96, y0: 35, x1: 264, y1: 51 },
      { x0: 668, y0: 7, x1: 775, y1: 26 },
    ],
    anatomy: { x0: 250, y0: 200, x1: 550, y1: 440 },
  },
  {
    file: 'us_palette16_segmented_aloka_burned_in.dcm',
    identifying: ['WESTWAYMEDICAL', '112420', 'ULTRASOUND'],
    textAt: [
      { x0: 80, y0: 1, x1: 248, y1: 15 },
      { x0: 550, y0: 1, x1: 638, y1: 16 },
    ],
    anatomy: { x0: 100, y0: 100, x1: 540, y1: 400 },
  },
];

describe.skipIf(!hasCorpus)('burned-in text over the corpus', () => {
  afterAll(async () => {
    await closeTextScanner();
    await closeDecodePool();
  });

  it.each(burnedIn)('$file: identifying text is blacked out, the anatomy is untouched', async (c) => {
    const png = await dicomPng(c.file);
    const before = (await readAllText(png)).map(squash).join('|');
    for (const text of c.identifying) expect(before).toContain(text); // the checks below can fail
    const result = await scanBurnedInText(png, { mode: 'redact' });
    expect(result.found).toBe(true);
    expect(result.report.redacted).toBeGreaterThanOrEqual(5);
    const after = await identifyingText(result.png);
    expect(after).toEqual([]);
    for (const rect of c.textAt) expect(await meanIn(result.png, rect)).toBeLessThan(2);
    expect(await changedPixels(png, result.png, c.anatomy)).toBe(0);
  });

  // A lead "L" marker beside vertical initials ("HSA", glyphs x 873..887, y 32..94, as `prepare`
  // shows them); the L's bar is at x 912..920, y 47..83 and its foot reaches left under the "A" to
  // x 888 (rows 74..82). Both files hold the same picture (one stored as MONOCHROME1), so both go
  // through `prepare`, which shows them the same way: `flag` for the image before, `redact` after.
  it.each(['cr_chest_siim_jpeg_baseline_8bit.dcm', 'cr_chest_fake_monochrome1_jpeg_baseline.dcm'])(
    '%s: the initials go black and the lead L beside them keeps its pixels',
    async (file) => {
      const bytes = new Uint8Array(readFileSync(join(corpus, 'dicom', file)));
      const options = { maxSide: 'native' as const };
      const { png } = await prepareImage(bytes, { ...options, burnedInText: 'flag' });
      const redacted = await prepareImage(bytes, { ...options, burnedInText: 'redact' });
      const before = (await readAllText(png)).map(squash).join('|');
      expect(before).toMatch(/H[S2]A/); // the initials are readable before, so this can fail
      expect(redacted.deid.burnedInText?.redacted).toBeGreaterThanOrEqual(1);
      expect(await meanIn(redacted.png, { x0: 872, y0: 30, x1: 884, y1: 95 })).toBeLessThan(2);
      expect((await readAllText(redacted.png)).map(squash).join('|')).not.toMatch(/H[S2]A|HS|SA|2A/);
      // Every pixel of the marker's ink (its foot included) is unchanged; right of the box, all are.
      // Ink is what stands far from the area's median (bright lead on film, dark on the inverted view).
      const [a, b] = await Promise.all([decodePng(png), decodePng(redacted.png)]);
      const marker = { x0: 888, y0: 44, x1: 924, y1: 83 };
      const values: number[] = [];
      for (let y = marker.y0; y < marker.y1; y += 1) {
        for (let x = marker.x0; x < marker.x1; x += 1) values.push(a.data[(y * a.width + x) * a.channels]!);
      }
      const median = [...values].sort((p, q) => p - q)[values.length >> 1]!;
      let ink = 0;
      let damaged = 0;
      for (let y = marker.y0; y < marker.y1; y += 1) {
        for (let x = marker.x0; x < marker.x1; x += 1) {
          const i = (y * a.width + x) * a.channels;
          if (Math.abs(a.data[i]! - median) < 80) continue;
          ink += 1;
          if (b.data[i] !== a.data[i]) damaged += 1;
        }
      }
      expect(ink).toBeGreaterThan(250);
      expect(damaged).toBe(0);
      expect(await changedPixels(png, redacted.png, { x0: 906, y0: 40, x1: 930, y1: 90 })).toBe(0);
    },
  );

  it('the burned-in text set, corpus cases included, is blacked out region by region at the depth prepare picks', async () => {
    const cases = await burnedInTextSet({ corpus: true });
    const recall = await measureRecall(cases, async (png, depth) => {
      return (await scanBurnedInText(png, { mode: 'redact', depth })).png;
    });
    expect(recall.missed).toEqual([]);
    expect(recall.total).toBeGreaterThanOrEqual(40);
  }, 240_000);

  it('the Philips probe-orientation letters are kept as markers', async () => {
    const result = await scanBurnedInText(await dicomPng('us_palette_philips_ob_burned_in.dcm'), {
      mode: 'redact',
    });
    expect(result.report.keptMarkers).toBeGreaterThanOrEqual(1);
  });

  it('the mammogram keeps its slanted "L MLO" marker and comes back unchanged', async () => {
    const png = await dicomPng('mg_wg04_mammo_jpeg_extended_12bit.dcm');
    const result = await scanBurnedInText(png, { mode: 'redact' });
    expect(result.report).toEqual({ regions: 1, redacted: 0, keptMarkers: 1 });
    expect(result.png.equals(png)).toBe(true);
  });

  it('a bedside radiograph keeps its position caption ("liegend") and comes back unchanged', async () => {
    const png = readFileSync(join(corpus, 'images', 'cxr_hannover_b343e657_cr_ap.png'));
    const result = await scanBurnedInText(png, { mode: 'redact' });
    expect(result.report).toEqual({ regions: 1, redacted: 0, keptMarkers: 1 });
    expect(result.png.equals(png)).toBe(true);
  });

  const cleanDicom = hasCorpus
    ? readdirSync(join(corpus, 'dicom')).filter((file) => /^(ct|mr)_/.test(file))
    : [];
  it.each(cleanDicom)('%s: clean CT/MR comes out unchanged (no false boxes)', async (file) => {
    const png = await dicomPng(file);
    const result = await scanBurnedInText(png, { mode: 'redact' });
    expect(result.report).toEqual({ regions: 0, redacted: 0, keptMarkers: 0 });
    expect(result.png.equals(png)).toBe(true);
  });

  const cleanRaster = hasCorpus
    ? readdirSync(join(corpus, 'images')).filter((file) => file !== 'cxr_hannover_b343e657_cr_ap.png')
    : [];
  it.each(cleanRaster)('%s: a radiograph or CT export without text comes out unchanged', async (file) => {
    const png = readFileSync(join(corpus, 'images', file));
    const result = await scanBurnedInText(png, { mode: 'redact' });
    expect(result.report.redacted).toBe(0);
    expect(result.png.equals(png)).toBe(true);
  });
});
