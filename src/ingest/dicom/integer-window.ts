/**
 * The common greyscale case, done in one table: integer stored values (PS3.3 C.7.6.3.1.1) under a
 * linear modality transform (C.11.1.1.2). A CT slice has a few thousand distinct stored values but a
 * quarter of a million pixels, so the modality transform, the window (C.11.2.1.2) and MONOCHROME1
 * inversion are worked out once per distinct value and the frame is mapped through the table: no
 * per-pixel modality array, no float copy for the percentile window. Each pixel gets exactly what the
 * general path (index.ts) would give it for the same window: the same expression `s × slope +
 * intercept` feeds the same `applyWindow`. Percentile windows are exact ranks here, where the general
 * path (float and Modality LUT frames) reads them off a 65,536-bin histogram: the two can differ by a
 * fraction of a value, which moves a few pixels by one grey level.
 */
import type { WindowInfo } from '../../core/types.js';
import { applyWindow, type VoiFunction } from '../voi.js';
import type { LinearModality } from './lut.js';
import type { IntegerValues } from './pixels.js';

export interface IntegerFrame {
  values: IntegerValues;
  min: number;
  max: number;
  mean: number;
  /** How many pixels hold each stored value: counts[v − min] for v in [min, max]. */
  counts: Uint32Array;
}

/**
 * One pass over the frame: a count per possible stored value (256 for 8-bit arrays, 65,536 for
 * 16-bit), from which min, max, mean and every percentile follow without touching the pixels again.
 * The mean is a sum of integers, exact in a double, so it equals the pixel-by-pixel one.
 */
export function integerFrame(values: IntegerValues): IntegerFrame {
  const signed = values instanceof Int16Array;
  const offset = signed ? 32768 : 0;
  const all = new Uint32Array(values instanceof Uint8Array ? 256 : 65536);
  for (let i = 0; i < values.length; i++) all[values[i]! + offset]!++;
  let low = 0;
  while (low < all.length && all[low] === 0) low++;
  if (low === all.length) return { values, min: 0, max: 0, mean: 0, counts: new Uint32Array(1) };
  let high = all.length - 1;
  while (all[high] === 0) high--;
  let sum = 0;
  for (let b = low; b <= high; b++) sum += all[b]! * (b - offset);
  return {
    values,
    min: low - offset,
    max: high - offset,
    mean: sum / values.length,
    counts: all.subarray(low, high + 1),
  };
}

/** Modality min/max/mean from the stored ones: a line maps extremes to extremes and means to means. */
export function linearStats(
  frame: Pick<IntegerFrame, 'min' | 'max' | 'mean'>,
  { slope, intercept }: LinearModality,
): { min: number; max: number; mean: number } {
  const a = frame.min * slope + intercept;
  const b = frame.max * slope + intercept;
  return { min: Math.min(a, b), max: Math.max(a, b), mean: frame.mean * slope + intercept };
}

/**
 * The low and high percentiles (0..1) of the modality values of the pixels `include` keeps (decided
 * per stored value: padding, or CT below −1024 HU); over every pixel when it keeps none. Each is the
 * value at rank ⌈p·n⌉ in ascending modality order.
 */
export function integerPercentiles(
  frame: IntegerFrame,
  modality: LinearModality,
  include: (stored: number) => boolean,
  low: number,
  high: number,
): [number, number] {
  const { values, min, max, counts } = frame;
  let kept = 0;
  const keep = new Uint8Array(counts.length);
  for (let b = 0; b < counts.length; b++) {
    if (counts[b] && include(min + b)) {
      keep[b] = 1;
      kept += counts[b]!;
    }
  }
  if (kept === 0) {
    keep.fill(1);
    kept = values.length;
  }
  if (kept === 0) return [0, 1];
  // A negative slope reverses the order: walk stored values downwards to go up in modality values.
  const ascending = modality.slope >= 0;
  const at = (p: number): number => {
    const target = Math.max(1, Math.ceil(p * kept));
    let cumulative = 0;
    for (let k = 0; k < counts.length; k++) {
      const b = ascending ? k : counts.length - 1 - k;
      if (!keep[b]) continue;
      cumulative += counts[b]!;
      if (cumulative >= target) return (min + b) * modality.slope + modality.intercept;
    }
    return max * modality.slope + modality.intercept;
  };
  return [at(low), at(high)];
}

/** The frame windowed to 8 bits through one table over [min, max] of the stored values. */
export function windowIntegerFrame(
  frame: IntegerFrame,
  modality: LinearModality,
  window: WindowInfo,
  invert: boolean,
  fn: VoiFunction,
): Uint8Array {
  const { values, min, max } = frame;
  const inputs = new Float64Array(max - min + 1);
  for (let b = 0; b < inputs.length; b++) inputs[b] = (min + b) * modality.slope + modality.intercept;
  const table = applyWindow(inputs, window, invert, fn);
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = table[values[i]! - min]!;
  return out;
}
