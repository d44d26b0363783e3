import { describe, expect, it } from 'vitest';
import type { WindowInfo } from '../../../../src/core/types.ts';
import {
  integerFrame,
  integerPercentiles,
  linearStats,
  windowIntegerFrame,
} from '../../../../src/ingest/dicom/integer-window.ts';
import type { LinearModality } from '../../../../src/ingest/dicom/lut.ts';
import { applyWindow } from '../../../../src/ingest/voi.ts';

/** A deterministic pseudo-random frame of stored values in [lo, hi]. */
function frame(n: number, lo: number, hi: number, seed = 7) {
  let state = seed;
  const values = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    values[i] = lo + (state % (hi - lo + 1));
  }
  return integerFrame(values);
}

/** The value at rank ⌈p·n⌉ of a sorted copy: the definition the histogram must reproduce. */
function rank(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(1, Math.ceil(p * sorted.length)) - 1]!;
}

const modalities: LinearModality[] = [
  { slope: 1, intercept: -1024, source: 'rescale' },
  { slope: 0.5, intercept: 3.25, source: 'rescale' },
  { slope: -2, intercept: 100, source: 'functional-groups' },
  { slope: 1, intercept: 0, source: 'none' },
];

describe('integerFrame: one histogram pass', () => {
  it.each([
    ['Uint8Array', Uint8Array.from([7, 0, 255, 7, 3])],
    ['Uint16Array', Uint16Array.from([4095, 12, 65535, 0, 12, 800])],
    ['Int16Array', Int16Array.from([-32768, -1024, 0, 32767, -1024, 5])],
    ['a constant frame', Uint16Array.from([42, 42, 42])],
  ])('gives the same min, max and mean as the pixels themselves (%s)', (_name, values) => {
    const f = integerFrame(values);
    const list = Array.from(values);
    expect(f.min).toBe(Math.min(...list));
    expect(f.max).toBe(Math.max(...list));
    expect(f.mean).toBe(list.reduce((a, b) => a + b, 0) / list.length);
    expect(Array.from(f.counts).reduce((a, b) => a + b, 0)).toBe(list.length);
    expect(f.counts[0]).toBe(list.filter((v) => v === f.min).length);
  });

  it('describes an empty frame without failing', () => {
    expect(integerFrame(new Uint16Array(0))).toMatchObject({ min: 0, max: 0, mean: 0 });
  });
});

describe('integer frames through one table', () => {
  const f = frame(20_000, -2000, 3000);
  const window: WindowInfo = { center: 40, width: 400, source: 'dataset', reason: 'test' };

  it.each(modalities)('windows exactly like the per-pixel path (slope $slope)', (modality) => {
    const perPixel = Float64Array.from(f.values, (s) => s * modality.slope + modality.intercept);
    for (const invert of [false, true]) {
      for (const fn of ['LINEAR', 'LINEAR_EXACT', 'SIGMOID'] as const) {
        const expected = applyWindow(perPixel, window, invert, fn);
        expect(windowIntegerFrame(f, modality, window, invert, fn)).toEqual(expected);
      }
    }
  });

  it.each(modalities)('takes percentiles as ranks of the modality values (slope $slope)', (modality) => {
    const modalityValues = Array.from(f.values, (s) => s * modality.slope + modality.intercept);
    const [lo, hi] = integerPercentiles(f, modality, () => true, 0.005, 0.995);
    expect(lo).toBe(rank(modalityValues, 0.005));
    expect(hi).toBe(rank(modalityValues, 0.995));
  });

  it('leaves out what the filter drops, and uses every pixel when it would drop all', () => {
    const ct: LinearModality = { slope: 1, intercept: -1024, source: 'rescale' };
    const keep = (s: number) => s - 1024 >= -1024 && s !== 0;
    const kept = Array.from(f.values)
      .filter(keep)
      .map((s) => s - 1024);
    const [lo, hi] = integerPercentiles(f, ct, keep, 0.005, 0.995);
    expect([lo, hi]).toEqual([rank(kept, 0.005), rank(kept, 0.995)]);
    const all = Array.from(f.values, (s) => s - 1024);
    expect(integerPercentiles(f, ct, () => false, 0.005, 0.995)).toEqual([
      rank(all, 0.005),
      rank(all, 0.995),
    ]);
  });

  it('derives modality min, max and mean from the stored ones, a negative slope swapping the ends', () => {
    const modality: LinearModality = { slope: -2, intercept: 100, source: 'rescale' };
    const values = Array.from(f.values, (s) => s * -2 + 100);
    const stats = linearStats(f, modality);
    expect(stats.min).toBe(Math.min(...values));
    expect(stats.max).toBe(Math.max(...values));
    expect(stats.mean).toBeCloseTo(values.reduce((a, b) => a + b, 0) / values.length, 6);
  });
});
