import { describe, expect, it } from 'vitest';
import { componentBoxes } from '../../../src/ingest/ocr/detect.ts';
import { scanDepth, shouldScanForText } from '../../../src/ingest/ocr/index.ts';
import { classifyRegion, isPositionMarker } from '../../../src/ingest/ocr/markers.ts';
import { contentBounds } from '../../../src/ingest/ocr/raster.ts';
import { ctcGreedyDecode } from '../../../src/ingest/ocr/recognize.ts';
import { fillBoxes } from '../../../src/ingest/ocr/scan.ts';

describe('shouldScanForText', () => {
  it.each([
    // raster images are always scanned, whatever the mode
    ['png', false, 'flag', true],
    ['jpeg', false, 'flag', true],
    ['webp', false, 'redact', true],
    ['tiff', false, 'refuse', true],
    // DICOM flagged by ingest (BurnedInAnnotation YES, US, secondary capture): always
    ['dicom', true, 'flag', true],
    ['dicom', true, 'redact', true],
    ['dicom', true, 'refuse', true],
    // other DICOM (CT, MR…): only when the operator did not choose `flag`
    ['dicom', false, 'redact', true],
    ['dicom', false, 'refuse', true],
    ['dicom', false, 'flag', false],
  ] as const)('%s, flagged=%s, mode=%s → %s', (kind, burnedInAnnotation, mode, expected) => {
    expect(shouldScanForText({ kind, burnedInAnnotation, mode })).toBe(expected);
  });
});

describe('scanDepth', () => {
  it.each([
    // CT and MR slices that ingest did not flag: the fast pass first
    ['dicom', 'CT', false, 'fast'],
    ['dicom', 'MR', false, 'fast'],
    ['dicom', 'ct', false, 'fast'],
    // flagged (BurnedInAnnotation YES, or a secondary capture) CT/MR: the full scan
    ['dicom', 'CT', true, 'full'],
    ['dicom', 'MR', true, 'full'],
    // ultrasound, radiographs, modalities the header leaves unknown: the full scan
    ['dicom', 'US', true, 'full'],
    ['dicom', 'CR', false, 'full'],
    ['dicom', 'MG', false, 'full'],
    ['dicom', 'OT', false, 'full'],
    ['dicom', undefined, false, 'full'],
    // raster images (a CT screenshot is still a screenshot): the full scan
    ['png', 'CT', false, 'full'],
    ['jpeg', undefined, false, 'full'],
  ] as const)('%s, modality %s, flagged=%s → %s', (kind, modality, burnedInAnnotation, expected) => {
    expect(scanDepth({ kind, modality, burnedInAnnotation })).toBe(expected);
  });
});

describe('contentBounds', () => {
  const raster = (width: number, height: number, lit: Array<[number, number, number]>) => {
    const data = new Uint8Array(width * height * 3);
    for (const [x, y, value] of lit) data.fill(value, (y * width + x) * 3, (y * width + x) * 3 + 3);
    return { data, width, height, channels: 3 as const };
  };

  it('is the rectangle around every pixel brighter than the black border', () => {
    expect(
      contentBounds(
        raster(40, 30, [
          [5, 7, 200],
          [30, 20, 9],
        ]),
      ),
    ).toEqual({ x0: 5, y0: 7, x1: 31, y1: 21 });
  });

  it('counts a single bright channel (coloured text) as content', () => {
    const image = raster(10, 10, []);
    image.data[(4 * 10 + 6) * 3 + 2] = 255;
    expect(contentBounds(image)).toEqual({ x0: 6, y0: 4, x1: 7, y1: 5 });
  });

  it('an image of black and codec noise up to 8 has no content', () => {
    expect(
      contentBounds(
        raster(20, 20, [
          [3, 3, 8],
          [10, 12, 5],
        ]),
      ),
    ).toBeUndefined();
  });
});

describe('position markers', () => {
  it.each(['L', 'R', 'RIGHT', 'left', 'PA', 'AP ERECT', 'PORTABLE AP SUPINE', 'Semi-erect', 'LT', 'liegend'])(
    'keeps %s',
    (text) => expect(isPositionMarker(text, 0.95)).toBe(true),
  );

  it.each(['DOE JOHN', 'L 1957', 'RIGHT 4455821', '12/03/2024', 'R.SMITH', '', 'AP PA AP PA AP'])(
    'does not keep %s',
    (text) => expect(isPositionMarker(text, 0.95)).toBe(false),
  );

  it('tolerates one misread letter in a long caption, but not in short words or names', () => {
    expect(isPositionMarker('liegene', 0.93)).toBe(true);
    expect(isPositionMarker('SUPLNE', 0.9)).toBe(true);
    expect(isPositionMarker('WRIGHT', 0.95)).toBe(false);
    expect(isPositionMarker('LEFF', 0.95)).toBe(false);
    expect(isPositionMarker('SUPINES', 0.95)).toBe(false);
  });

  it('does not trust a doubtful reading to keep a region', () => {
    expect(isPositionMarker('L', 0.5)).toBe(false);
  });
});

describe('classifyRegion', () => {
  const box = (w: number, h: number, score = 0.95) => ({ x0: 10, y0: 10, x1: 10 + w, y1: 10 + h, score });

  it('readable text is text; markers are markers', () => {
    expect(classifyRegion({ text: 'DOE JOHN', confidence: 0.9, box: box(120, 20), imageHeight: 512 })).toBe(
      'text',
    );
    expect(classifyRegion({ text: 'RIGHT', confidence: 0.9, box: box(80, 20), imageHeight: 512 })).toBe(
      'marker',
    );
  });

  it('fails closed for an unreadable box shaped like a line of writing', () => {
    expect(classifyRegion({ text: '', confidence: 0, box: box(120, 20), imageHeight: 512 })).toBe('text');
  });

  it('needs a sure reading for one or two characters (an eye read as "e.")', () => {
    expect(classifyRegion({ text: 'e.', confidence: 0.54, box: box(15, 10), imageHeight: 480 })).toBe(
      'noise',
    );
    expect(classifyRegion({ text: 'G', confidence: 0.94, box: box(21, 22), imageHeight: 600 })).toBe('text');
    expect(classifyRegion({ text: '1957', confidence: 0.6, box: box(50, 20), imageHeight: 600 })).toBe(
      'text',
    );
  });

  it('an unreadable line shape counts only when the detector was sure of it', () => {
    expect(classifyRegion({ text: '', confidence: 0, box: box(120, 20, 0.7), imageHeight: 512 })).toBe(
      'noise',
    );
    expect(classifyRegion({ text: '', confidence: 0, box: box(16, 7), imageHeight: 512 })).toBe('noise');
  });

  it('ignores unreadable blobs and body-sized regions (detector noise on anatomy)', () => {
    expect(classifyRegion({ text: '', confidence: 0, box: box(34, 28), imageHeight: 512 })).toBe('noise');
    expect(classifyRegion({ text: 'GRY', confidence: 0.49, box: box(400, 240), imageHeight: 484 })).toBe(
      'noise',
    );
    expect(classifyRegion({ text: 'o', confidence: 0.9, box: box(512, 340), imageHeight: 512 })).toBe(
      'noise',
    );
  });
});

describe('componentBoxes (DB post-processing)', () => {
  it('finds one box per blob, grown by the unclip distance, and drops weak or tiny blobs', () => {
    const width = 64;
    const height = 32;
    const map = new Float32Array(width * height);
    const paint = (x0: number, y0: number, x1: number, y1: number, p: number) => {
      for (let y = y0; y < y1; y += 1) for (let x = x0; x < x1; x += 1) map[y * width + x] = p;
    };
    paint(4, 4, 24, 10, 0.95); // a text kernel 20×6
    paint(40, 20, 60, 26, 0.4); // above the pixel threshold, below the box threshold
    paint(30, 2, 32, 4, 0.99); // 2×2: too small
    const boxes = componentBoxes(map, width, height, { pixelThreshold: 0.3, boxThreshold: 0.6 });
    expect(boxes).toHaveLength(1);
    const grow = (1.5 * 20 * 6) / (2 * 26);
    expect(boxes[0]!.x0).toBeCloseTo(4 - grow);
    expect(boxes[0]!.x1).toBeCloseTo(24 + grow);
    expect(boxes[0]!.y0).toBeCloseTo(4 - grow);
    expect(boxes[0]!.score).toBeCloseTo(0.95);
  });
});

describe('componentBoxes slant', () => {
  it('measures the angle and extent of a diagonal stroke, and leaves level lines alone', () => {
    const width = 80;
    const height = 80;
    const map = new Float32Array(width * height);
    // a 3-pixel-thick stroke going down-right at 45° (clockwise on screen), 40 px long on each axis
    for (let t = 0; t < 40; t += 1) {
      for (let k = -1; k <= 1; k += 1) map[(20 + t + k) * width + (20 + t)] = 0.9;
    }
    // a level line 30×5 at the bottom
    for (let y = 70; y < 75; y += 1) for (let x = 10; x < 40; x += 1) map[y * width + x] = 0.9;
    const boxes = componentBoxes(map, width, height, { pixelThreshold: 0.3, boxThreshold: 0.6 });
    const diagonal = boxes.find((box) => box.slant);
    const level = boxes.find((box) => !box.slant);
    expect(diagonal?.slant?.angle).toBeCloseTo(45, 0);
    expect(diagonal!.slant!.length).toBeGreaterThan(40 * Math.SQRT2 * 0.9);
    expect(diagonal!.slant!.thickness).toBeLessThan(diagonal!.slant!.length / 2);
    expect(level).toBeDefined();
  });
});

describe('ctcGreedyDecode', () => {
  it('collapses repeats, drops blanks and averages the emitted probabilities', () => {
    const dictionary = ['A', 'B'];
    // classes: 0 blank, 1 'A', 2 'B'; steps: A A blank A B
    const steps = [
      [0.1, 0.8, 0.1],
      [0.1, 0.6, 0.3],
      [0.9, 0.05, 0.05],
      [0.2, 0.7, 0.1],
      [0.1, 0.1, 0.8],
    ];
    const result = ctcGreedyDecode(new Float32Array(steps.flat()), [1, 5, 3], dictionary);
    expect(result.text).toBe('AAB');
    expect(result.confidence).toBeCloseTo((0.8 + 0.7 + 0.8) / 3);
  });
});

describe('fillBoxes', () => {
  it('blacks out a padded box, leaves the rest and keeps alpha opaque', () => {
    const raster = {
      data: new Uint8Array(20 * 10 * 2).fill(200),
      width: 20,
      height: 10,
      channels: 2 as const,
    };
    const out = fillBoxes(raster, [{ x0: 5, y0: 4, x1: 10, y1: 6, score: 1 }]);
    const at = (x: number, y: number) => [out.data[(y * 20 + x) * 2], out.data[(y * 20 + x) * 2 + 1]];
    expect(at(5, 4)).toEqual([0, 255]);
    expect(at(3, 2)).toEqual([0, 255]); // within the 2-pixel pad
    expect(at(2, 4)).toEqual([200, 200]);
    expect(at(15, 9)).toEqual([200, 200]);
    expect(raster.data[(4 * 20 + 5) * 2]).toBe(200); // the input is not modified
  });
});
