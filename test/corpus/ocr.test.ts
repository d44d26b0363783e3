import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { closeTextScanner, scanBurnedInText } from '../../src/ingest/ocr/index.ts';
import { isPositionMarker } from '../../src/ingest/ocr/markers.ts';
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
