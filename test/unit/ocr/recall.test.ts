import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeTextScanner, scanBurnedInText } from '../../../src/ingest/ocr/index.ts';
import { burnedInTextSet, measureRecall, type TextCase } from './burned-in-set.ts';
import { renderScene } from './images.ts';

/**
 * The burned-in text set's recall through the product's scan, each image at the depth `prepare`
 * picks for it (issue 21: a cheaper scan must still find every region). The corpus part of the set
 * runs in test/corpus/ocr.test.ts.
 */
describe('burned-in text recall', () => {
  let cases: TextCase[];

  beforeAll(async () => {
    cases = await burnedInTextSet({ corpus: false });
  }, 60_000);

  afterAll(async () => {
    await closeTextScanner();
  });

  it('blacks out every region of the set', async () => {
    const recall = await measureRecall(cases, async (png, depth) => {
      return (await scanBurnedInText(png, { mode: 'redact', depth })).png;
    });
    expect(recall.missed).toEqual([]);
    expect(recall.found).toBe(recall.total);
    expect(recall.total).toBeGreaterThanOrEqual(16);
  }, 120_000);

  it('the regions are really checked: an unredacted image finds none of them', async () => {
    const recall = await measureRecall(cases, async (png) => png);
    expect(recall.found).toBe(0);
  }, 60_000);

  it('the fast pass hands a clean slice-sized image back unchanged with nothing found', async () => {
    const clean = await renderScene(512, 512);
    const result = await scanBurnedInText(clean, { mode: 'redact', depth: 'fast' });
    expect(result.report).toEqual({ regions: 0, redacted: 0, keptMarkers: 0 });
    expect(result.png.equals(clean)).toBe(true);
  });
});
