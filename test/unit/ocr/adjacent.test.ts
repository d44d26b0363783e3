import { afterAll, describe, expect, it } from 'vitest';
import { closeTextScanner, scanBurnedInText } from '../../../src/ingest/ocr/index.ts';
import { decodePng } from '../../../src/ingest/ocr/raster.ts';
import { fillRect, foreignInk } from '../../../src/ingest/ocr/spare.ts';
import { meanIn, readAllText, renderScene, squash } from './images.ts';

/**
 * A lead "L" marker right beside burned-in initials, its foot reaching under the last letter (as
 * on the corpus cr_chest_siim_* radiograph): the initials go black, the marker keeps its pixels.
 */
const SIZE = 768;
// Vertical initials, written top to bottom, their glyphs in x ≈ 600..622, y ≈ 100..190.
const INITIALS = { text: 'KWZ', x: 600, y: 100, size: 30, rotate: 90 };
// The marker: bar at x 650..662, y 120..190; foot y 178..190 reaching left to x 628.
const L_PATH = 'M 650 120 L 662 120 L 662 190 L 628 190 L 628 178 L 650 178 Z';
const MARKER = { x0: 626, y0: 118, x1: 664, y1: 192 };

async function adjacentScene(): Promise<Buffer> {
  return renderScene(SIZE, SIZE, [INITIALS], 1, `<path d="${L_PATH}" fill="#f0f0f0"/>`);
}

/** Pixels of the marker that changed (the marker's bright pixels only: the background may go black). */
async function damagedMarkerPixels(before: Buffer, after: Buffer): Promise<number> {
  const [a, b] = await Promise.all([decodePng(before), decodePng(after)]);
  let damaged = 0;
  for (let y = MARKER.y0; y < MARKER.y1; y += 1) {
    for (let x = MARKER.x0; x < MARKER.x1; x += 1) {
      const i = (y * a.width + x) * a.channels;
      if (a.data[i]! > 180 && a.data[i] !== b.data[i]) damaged += 1;
    }
  }
  return damaged;
}

describe('a marker adjacent to identifying text', () => {
  afterAll(async () => {
    await closeTextScanner();
  });

  it('blacks out the initials and keeps every bright pixel of the L', async () => {
    const image = await adjacentScene();
    const before = (await readAllText(image)).map(squash).join('|');
    expect(before).toMatch(/KWZ|KW|WZ/); // the initials are readable before, so this can fail
    const result = await scanBurnedInText(image, { mode: 'redact' });
    expect(result.report.redacted).toBeGreaterThanOrEqual(1);
    expect(await meanIn(result.png, { x0: 600, y0: 102, x1: 622, y1: 188 })).toBeLessThan(5);
    expect(await damagedMarkerPixels(image, result.png)).toBe(0);
    const after = (await readAllText(result.png)).map(squash).join('|');
    expect(after).not.toMatch(/KW|WZ|KZ/);
  });
});

describe('foreignInk', () => {
  // 60×40 grey raster, background 100; a "text" blob inside the box and a bright L reaching in.
  const width = 60;
  const height = 40;
  const make = () => new Uint8Array(width * height).fill(100);
  const paint = (data: Uint8Array, x0: number, y0: number, x1: number, y1: number) => {
    for (let y = y0; y < y1; y += 1) for (let x = x0; x < x1; x += 1) data[y * width + x] = 240;
  };
  const box = { x0: 5, y0: 5, x1: 25, y1: 35, score: 0.9 };

  it('spares a shape whose ink lies mostly outside the box, not the glyphs inside it', () => {
    const data = make();
    paint(data, 8, 8, 20, 30); // a glyph inside the box
    paint(data, 40, 3, 46, 37); // the L's bar, outside, taller than the line is thick (20 px)
    paint(data, 22, 31, 46, 37); // its foot, reaching into the box
    const raster = { data, width, height, channels: 1 as const };
    const rect = fillRect(box, width, height);
    const keep = foreignInk(raster, box, rect)!.keep;
    expect(keep).toBeDefined();
    const kept = (x: number, y: number) => keep[(y - rect.y0) * (rect.x1 - rect.x0) + (x - rect.x0)];
    expect(kept(23, 33)).toBe(1); // the foot
    expect(kept(12, 12)).toBe(0); // the glyph
    expect(kept(6, 6)).toBe(0); // background
  });

  it('spares nothing when the reaching shape is mostly inside the box or runs out of the window', () => {
    const letter = make();
    paint(letter, 8, 8, 14, 20);
    paint(letter, 22, 10, 34, 24); // a letter of a neighbouring line: outside, but letter-sized
    expect(foreignInk({ data: letter, width, height, channels: 1 }, box, fillRect(box, width, height))).toBe(
      undefined,
    );
    const inside = make();
    paint(inside, 8, 8, 24, 30);
    paint(inside, 24, 20, 27, 22); // a small tail sticking out of a glyph
    expect(foreignInk({ data: inside, width, height, channels: 1 }, box, fillRect(box, width, height))).toBe(
      undefined,
    );
    const huge = make();
    paint(huge, 8, 8, 14, 20);
    paint(huge, 20, 0, 60, 40); // a bright region filling the rest of the image (anatomy)
    expect(foreignInk({ data: huge, width, height, channels: 1 }, box, fillRect(box, width, height))).toBe(
      undefined,
    );
  });
});
