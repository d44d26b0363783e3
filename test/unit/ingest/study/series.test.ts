import { describe, expect, it } from 'vitest';
import type { SliceHeader } from '../../../../src/ingest/study/header.ts';
import {
  describeSlices,
  orderSlices,
  pickKeySlices,
  sliceRequest,
} from '../../../../src/ingest/study/series.ts';

const slice = (extra: Partial<SliceHeader>): SliceHeader => ({
  meta: { modality: 'CT' },
  rows: 4,
  columns: 4,
  frames: 1,
  ...extra,
});

describe('orderSlices', () => {
  it('orders by Image Position (Patient) along the slice normal, not by Instance Number', () => {
    const axial: SliceHeader['orientation'] = [1, 0, 0, 0, 1, 0];
    const z = [30, -10, 10, 20, 0];
    const slices = z.map((zz, i) =>
      slice({ position: [5, 5, zz], orientation: axial, instanceNumber: 100 - i }),
    );
    expect(orderSlices(slices).map((i) => z[i])).toEqual([-10, 0, 10, 20, 30]);
  });

  it('uses the normal of an oblique or sagittal stack, where z alone would not order it', () => {
    const sagittal: SliceHeader['orientation'] = [0, 1, 0, 0, 0, -1];
    const x = [2, -4, 0];
    const slices = x.map((xx) => slice({ position: [xx, 50, 50], orientation: sagittal }));
    // Row (0,1,0) × column (0,0,−1) = (−1,0,0): the stack runs towards −x.
    expect(orderSlices(slices).map((i) => x[i])).toEqual([2, 0, -4]);
  });

  it('falls back to Instance Number, then to the order posted', () => {
    expect(orderSlices([3, 1, 2].map((n) => slice({ instanceNumber: n })))).toEqual([1, 2, 0]);
    expect(orderSlices([slice({ instanceNumber: 2 }), slice({})])).toEqual([0, 1]);
  });
});

describe('pickKeySlices', () => {
  it('takes the middle of equal shares of the series', () => {
    expect(pickKeySlices(100, 4).picked).toEqual([13, 38, 63, 88]);
    expect(pickKeySlices(120, 4).picked).toEqual([16, 46, 76, 106]);
    expect(pickKeySlices(3, 4).picked).toEqual([1, 2, 3]);
  });

  it('spreads over a range asked for, and centres on a slice asked for', () => {
    expect(pickKeySlices(120, 4, { kind: 'range', from: 40, to: 60 }).picked).toEqual([42, 47, 53, 58]);
    expect(pickKeySlices(120, 4, { kind: 'around', centre: 52 }).picked).toEqual([51, 52, 53, 54]);
    expect(pickKeySlices(120, 4, { kind: 'around', centre: 120 }).picked).toEqual([117, 118, 119, 120]);
    expect(pickKeySlices(120, 4, { kind: 'one', slice: 7 }).picked).toEqual([7]);
  });

  it('says when the slices asked for are not in the series, and reads the series instead', () => {
    const key = pickKeySlices(20, 2, { kind: 'range', from: 40, to: 60 });
    expect(key.outOfRange).toBe('slices 40-60 asked, the series has 20');
    expect(key.picked).toEqual([6, 16]);
  });
});

describe('sliceRequest', () => {
  it.each([
    ['slices 40-60: any PE?', { kind: 'range', from: 40, to: 60 }],
    ['look at slices 60 to 40', { kind: 'range', from: 40, to: 60 }],
    ['nodule around slice 52?', { kind: 'around', centre: 52 }],
    ['what is on slice 7', { kind: 'one', slice: 7 }],
    ['frame #3 please', { kind: 'one', slice: 3 }],
  ])('%s', (question, request) => {
    expect(sliceRequest(question)).toEqual(request);
  });

  it('finds none in a question without one', () => {
    expect(sliceRequest('any nodule in the 2 lungs?')).toBeUndefined();
  });
});

it('describes what was read', () => {
  expect(describeSlices([13, 38, 63, 88], 100, 'slice')).toBe('slices 13, 38, 63, 88 of 100');
  expect(describeSlices([4], 8, 'frame')).toBe('frame 4 of 8');
});
