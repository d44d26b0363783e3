import { describe, expect, it } from 'vitest';
import {
  auroc,
  bootstrapInterval,
  confusionAt,
  expectedCalibrationError,
  reliabilityBins,
  rocCurve,
  type Scored,
  seededRandom,
  wilson,
} from '../../../src/eval/metrics.ts';
import { groupMetrics } from '../../../src/eval/summary.ts';

const cases = (scores: number[], labels: Array<0 | 1>): Scored[] =>
  scores.map((score, i) => ({ score, label: labels[i]! }));

/** Every (positive, negative) pair compared directly: the definition AUROC must agree with. */
function pairwiseAuroc(list: readonly Scored[]): number {
  let wins = 0;
  let pairs = 0;
  for (const p of list.filter((c) => c.label === 1)) {
    for (const n of list.filter((c) => c.label === 0)) {
      pairs++;
      wins += p.score > n.score ? 1 : p.score === n.score ? 0.5 : 0;
    }
  }
  return wins / pairs;
}

describe('eval metrics', () => {
  it('AUROC counts the pairs a positive wins, ties as one half', () => {
    expect(auroc(cases([0.9, 0.8, 0.3, 0.1], [1, 1, 0, 0]))).toBe(1);
    expect(auroc(cases([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0]))).toBe(0);
    expect(auroc(cases([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0]))).toBe(0.5);
    // 3 positives × 2 negatives: 0.7 beats both, 0.4 beats 0.2 and ties 0.4, 0.1 beats none → 3.5/6.
    expect(auroc(cases([0.7, 0.4, 0.1, 0.4, 0.2], [1, 1, 1, 0, 0]))).toBeCloseTo(3.5 / 6, 12);
    expect(auroc(cases([0.7, 0.4], [1, 1]))).toBeUndefined();
  });

  it('agrees with the pairwise definition on random data with ties', () => {
    const random = seededRandom(7);
    for (let round = 0; round < 20; round++) {
      const list = Array.from({ length: 40 }, () => ({
        score: Math.round(random() * 10) / 10,
        label: (random() < 0.4 ? 1 : 0) as 0 | 1,
      }));
      if (!list.some((c) => c.label === 1) || !list.some((c) => c.label === 0)) continue;
      expect(auroc(list)).toBeCloseTo(pairwiseAuroc(list), 12);
    }
  });

  it('draws the ROC curve through every distinct threshold', () => {
    const roc = rocCurve(cases([0.9, 0.6, 0.6, 0.2], [1, 0, 1, 0]));
    expect(roc.map((p) => [p.fpr, p.tpr])).toEqual([
      [0, 0],
      [0, 0.5],
      [0.5, 1],
      [1, 1],
    ]);
  });

  it('gives the same bootstrap interval for the same seed, another for another seed', () => {
    const random = seededRandom(3);
    const list = Array.from({ length: 60 }, (_, i) => ({
      score: random(),
      label: (i % 3 === 0 ? 1 : 0) as 0 | 1,
    }));
    const groups = list.map((c) => [c]);
    const statistic = (sample: Scored[][]) => auroc(sample.flat());
    const a = bootstrapInterval(groups, statistic, { resamples: 500, seed: 1 })!;
    const b = bootstrapInterval(groups, statistic, { resamples: 500, seed: 1 })!;
    const c = bootstrapInterval(groups, statistic, { resamples: 500, seed: 2 })!;
    expect(a).toEqual(b);
    expect(c).not.toEqual(a);
    const point = auroc(list)!;
    expect(a[0]).toBeLessThan(point);
    expect(a[1]).toBeGreaterThan(point);
  });

  it('has no interval when resamples rarely hold both outcomes', () => {
    const list = cases([0.9, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.05], [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const interval = bootstrapInterval(
      list.map((c) => [c]),
      (s) => auroc(s.flat()),
      { resamples: 200, seed: 1 },
    );
    // One positive in ten: about 35% of resamples miss it, so most still succeed here…
    expect(interval).toBeDefined();
    // …but with no positive at all, none does.
    expect(
      bootstrapInterval([[{ score: 1, label: 0 as const }]], (s) => auroc(s.flat()), {
        resamples: 50,
        seed: 1,
      }),
    ).toBeUndefined();
  });

  it('computes Wilson intervals like the textbook (Newcombe 1998, 81/263)', () => {
    const [lo, hi] = wilson(81, 263)!;
    expect(lo).toBeCloseTo(0.2553, 4);
    expect(hi).toBeCloseTo(0.3662, 4);
    expect(wilson(0, 10)![0]).toBe(0);
    expect(wilson(0, 0)).toBeUndefined();
  });

  it('counts the confusion at the operating point and the calibration error per bin', () => {
    const list = cases([0.95, 0.85, 0.55, 0.45, 0.15, 0.05], [1, 1, 0, 1, 0, 0]);
    expect(confusionAt(list, 0.5)).toEqual({ tp: 2, fp: 1, fn: 1, tn: 2 });
    const bins = reliabilityBins(list);
    expect(bins.map((b) => b.count)).toEqual([1, 1, 1, 1, 1, 1]);
    // Each bin holds one case: ECE is the mean |label − score|.
    const expected = (0.05 + 0.15 + 0.55 + 0.55 + 0.15 + 0.05) / 6;
    expect(expectedCalibrationError(list)).toBeCloseTo(expected, 12);
    expect(expectedCalibrationError([])).toBeUndefined();
  });

  it('counts only Yes answers that beat the blank image by the margin as grounded', () => {
    const base = { modality: 'DX', split: '', scoreFrom: 'probe' as const, named: true, finding: 'nodule' };
    const metrics = groupMetrics(
      [
        { ...base, file: 'a', score: 0.9, raw: 0.9, blank: 0.2, label: 1 },
        { ...base, file: 'b', score: 0.8, raw: 0.8, blank: 0.75, label: 1 },
        { ...base, file: 'c', score: 0.3, raw: 0.3, blank: 0.01, label: 0 },
        // Calibrated up to a Yes, but its raw answer is what is compared with the blank image's.
        { ...base, file: 'd', score: 0.6, raw: 0.15, blank: 0.1, label: 0, named: false },
        { ...base, file: 'e', score: 0.7, raw: 0.7, blank: 0.1, label: 0, named: false },
      ],
      { seed: 1, resamples: 100, pooled: false },
    );
    // Yes: a (grounded), b (not: 0.8 − 0.75 < 0.1), d (not: raw 0.15 − 0.1), e (grounded).
    expect(metrics.groundingRate).toBe(0.5);
    expect(metrics.readHitRate).toBe(1);
    expect(metrics.readFalseMentionRate).toBeCloseTo(1 / 3, 12);
    expect(metrics.sensitivity).toBe(1);
    expect(metrics.specificity).toBeCloseTo(1 / 3, 12);
  });
});
