import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { PreparedImage } from '../../../src/core/types.ts';
import { type ScanDepth, scanDepth } from '../../../src/ingest/ocr/index.ts';
import { decodePng } from '../../../src/ingest/ocr/raster.ts';
import { decodeAndFit } from '../../../src/ingest/prepare-core.ts';
import { sniff } from '../../../src/ingest/sniff.ts';
import { type PlantedText, renderScene, textOnlySvg } from './images.ts';

/**
 * The burned-in text set (issue 21): every region of identifying text the scan must black out, on
 * the images the OCR tests use (test/unit/ocr/*.test.ts, test/corpus/ocr.test.ts) plus CT and MR
 * slices with planted annotations at 10 and 12 px (the fast pass's floor, src/ingest/ocr/scan.ts).
 * Position markers are not regions: missing one loses nothing. bench/ocr and bench/ingest print the
 * recall over this set; test/unit/ocr/recall.test.ts and test/corpus/ocr.test.ts require all of it.
 */
export interface TextCase {
  name: string;
  png: Buffer;
  /** The depth `prepare` picks for this image (scanDepth on its kind, modality and header flag). */
  depth: ScanDepth;
  /** One entry per region: a glyph mask (every glyph pixel must go black) or a rectangle inside the
   * glyphs whose mean must fall under 2 (where the text was burned in by someone else). */
  regions: Array<{ mask: Uint8Array } | { rect: { x0: number; y0: number; x1: number; y1: number } }>;
}

const corpus = fileURLToPath(new URL('../../../../shared/corpus', import.meta.url));
export const hasCorpus = existsSync(join(corpus, 'dicom'));

/** One mask per planted line (glyph pixels of that line alone, rendered white on black). */
async function masks(
  width: number,
  height: number,
  texts: readonly PlantedText[],
): Promise<TextCase['regions']> {
  return Promise.all(
    texts.map(async (text) => {
      const { data } = await sharp(Buffer.from(textOnlySvg(width, height, [text])))
        .flatten({ background: '#000000' })
        .greyscale()
        .raw()
        .toBuffer({ resolveWithObject: true });
      return { mask: Uint8Array.from(data, (value) => (value > 128 ? 1 : 0)) };
    }),
  );
}

async function synthetic(
  name: string,
  width: number,
  height: number,
  texts: PlantedText[],
  options: { channels?: 1 | 3; extraSvg?: string; depth?: ScanDepth } = {},
): Promise<TextCase> {
  const png = await renderScene(width, height, texts, options.channels ?? 1, options.extraSvg ?? '');
  return { name, png, depth: options.depth ?? 'full', regions: await masks(width, height, texts) };
}

const identity = (size: number): PlantedText[] => [
  { text: 'DOE^JOHN', x: size * 0.03, y: size * 0.06, size: size / 32 },
  { text: '1957-03-14', x: size * 0.03, y: size * 0.11, size: size / 32 },
  { text: 'MRN 4455821', x: size * 0.6, y: size * 0.06, size: size / 32 },
];

/** Annotations as a CT or MR console burns them into a slice: name, birth date, ID, site, window. */
function sliceAnnotations(width: number, height: number, size: number): PlantedText[] {
  return [
    { text: 'DOE^JOHN', x: 4, y: size + 2, size },
    { text: '1957-03-14', x: 4, y: 2 * size + 6, size },
    { text: 'ID 4455821', x: width - 9 * size * 0.62 - 4, y: size + 2, size },
    { text: 'ST MARY HOSP', x: 4, y: height - 6, size },
  ];
}

async function prepared(file: string): Promise<PreparedImage> {
  const bytes = new Uint8Array(readFileSync(join(corpus, 'dicom', file)));
  const image = await decodeAndFit({ bytes, kind: sniff(bytes).kind, maxSide: 'native' });
  return { ...image, png: Buffer.from(image.png.buffer, image.png.byteOffset, image.png.byteLength) };
}

const depthOf = (image: PreparedImage): ScanDepth =>
  scanDepth({
    kind: image.source.kind,
    modality: image.meta.modality,
    burnedInAnnotation: image.deid.burnedInAnnotation,
  });

/** The set: its synthetic part always, the corpus part when asked for and ../shared/corpus is there. */
export async function burnedInTextSet(
  options: { corpus: boolean } = { corpus: hasCorpus },
): Promise<TextCase[]> {
  const cases: TextCase[] = [
    await synthetic('scene 768 grey', 768, 768, identity(768)),
    await synthetic('scene 640×480 RGB', 640, 480, identity(640), { channels: 3 }),
    await synthetic('slanted name', 768, 768, [
      { text: 'DOE^JOHN 1957', x: 60, y: 560, size: 32, rotate: -30 },
    ]),
    await synthetic(
      'initials beside a lead L',
      768,
      768,
      [{ text: 'KWZ', x: 600, y: 100, size: 30, rotate: 90 }],
      {
        extraSvg: '<path d="M 650 120 L 662 120 L 662 190 L 628 190 L 628 178 L 650 178 Z" fill="#f0f0f0"/>',
      },
    ),
  ];
  // Text alone on black, away from every edge: the detector sees only a window of its input there.
  const alone: PlantedText[] = [{ text: 'DOE^JOHN 1957', x: 333, y: 421, size: 20 }];
  cases.push({
    name: 'text alone on black',
    png: await sharp(Buffer.from(textOnlySvg(640, 640, alone)))
      .flatten({ background: '#000000' })
      .greyscale()
      .png()
      .toBuffer(),
    depth: 'full',
    regions: await masks(640, 640, alone),
  });
  // Slice-sized scenes at the fast pass's floor, for a machine without the corpus.
  for (const size of [10, 12]) {
    cases.push(
      await synthetic(`scene 512, ${size}-px annotations`, 512, 512, sliceAnnotations(512, 512, size), {
        depth: 'fast',
      }),
    );
  }
  if (!options.corpus || !hasCorpus) return cases;
  // Ultrasound and radiograph text burned in by their modalities (rectangles from test/corpus/ocr.test.ts).
  const burnedIn: Array<[string, Array<{ x0: number; y0: number; x1: number; y1: number }>]> = [
    ['us_rgb_burned_in_text_explicit_le.dcm', [{ x0: 20, y0: 25, x1: 170, y1: 40 }]],
    [
      'us_palette_philips_ob_burned_in.dcm',
      [
        { x0: 96, y0: 35, x1: 264, y1: 51 },
        { x0: 668, y0: 7, x1: 775, y1: 26 },
      ],
    ],
    [
      'us_palette16_segmented_aloka_burned_in.dcm',
      [
        { x0: 80, y0: 1, x1: 248, y1: 15 },
        { x0: 550, y0: 1, x1: 638, y1: 16 },
      ],
    ],
    ['cr_chest_siim_jpeg_baseline_8bit.dcm', [{ x0: 872, y0: 30, x1: 884, y1: 95 }]],
    ['cr_chest_fake_monochrome1_jpeg_baseline.dcm', [{ x0: 872, y0: 30, x1: 884, y1: 95 }]],
  ];
  for (const [file, rects] of burnedIn) {
    const image = await prepared(file);
    cases.push({
      name: file,
      png: image.png,
      depth: depthOf(image),
      regions: rects.map((rect) => ({ rect })),
    });
  }
  // Real CT and MR slices with planted annotations: these take the fast pass.
  for (const file of [
    'ct_wg04_implicit_le.dcm',
    'ct_chest_implicit_le_window.dcm',
    'mr_siemens_overlay_icon.dcm',
  ]) {
    const image = await prepared(file);
    for (const size of [10, 12]) {
      const texts = sliceAnnotations(image.width, image.height, size);
      const png = await sharp(image.png)
        .composite([{ input: Buffer.from(textOnlySvg(image.width, image.height, texts)) }])
        .png()
        .toBuffer();
      cases.push({
        name: `${file} + ${size}-px annotations`,
        png,
        depth: depthOf(image),
        regions: await masks(image.width, image.height, texts),
      });
    }
  }
  return cases;
}

/** Which of a case's regions the redacted image has blacked out. */
export async function regionsFound(textCase: TextCase, redacted: Buffer): Promise<boolean[]> {
  const raster = await decodePng(redacted);
  const { width, channels, data } = raster;
  const brightest = (pixel: number) => {
    let max = 0;
    for (let c = 0; c < Math.min(channels, 3); c += 1) max = Math.max(max, data[pixel * channels + c]!);
    return max;
  };
  return textCase.regions.map((region) => {
    if ('mask' in region) {
      for (let p = 0; p < region.mask.length; p += 1) if (region.mask[p] && brightest(p) !== 0) return false;
      return true;
    }
    const { x0, y0, x1, y1 } = region.rect;
    let sum = 0;
    for (let y = y0; y < y1; y += 1) for (let x = x0; x < x1; x += 1) sum += brightest(y * width + x);
    return sum / ((x1 - x0) * (y1 - y0)) < 2;
  });
}

export interface Recall {
  found: number;
  total: number;
  /** Case names with a region left readable. */
  missed: string[];
}

/** Recall of a redacting scan over the set: regions blacked out / regions. */
export async function measureRecall(
  cases: readonly TextCase[],
  redact: (png: Buffer, depth: ScanDepth) => Promise<Buffer>,
): Promise<Recall> {
  const recall: Recall = { found: 0, total: 0, missed: [] };
  for (const textCase of cases) {
    const found = await regionsFound(textCase, await redact(textCase.png, textCase.depth));
    recall.total += found.length;
    recall.found += found.filter(Boolean).length;
    if (found.includes(false)) recall.missed.push(`${textCase.name} (${found.filter((f) => !f).length})`);
  }
  return recall;
}
