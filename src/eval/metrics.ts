/**
 * The numbers of a standalone-performance study, written out so each can be checked by hand:
 * AUROC as the Mann–Whitney U statistic (ties count one half; Hanley & McNeil 1982), a percentile
 * bootstrap for its 95% interval (Efron & Tibshirani 1993, ch. 13) with a seeded generator so a report
 * can be reproduced, Wilson intervals for sensitivity and specificity (Wilson 1927), and the expected
 * calibration error over ten equal-width bins (Naeini et al. 2015; Guo et al. 2017).
 */

export interface Scored {
  score: number;
  label: 0 | 1;
}

/** mulberry32: a small, well-mixed 32-bit generator; the same seed gives the same intervals. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** AUROC = P(score of a positive > score of a negative) + ½ P(tie); undefined without both outcomes. */
export function auroc(cases: readonly Scored[]): number | undefined {
  const positives = cases.filter((c) => c.label === 1).length;
  const negatives = cases.length - positives;
  if (positives === 0 || negatives === 0) return undefined;
  const sorted = [...cases].sort((a, b) => a.score - b.score);
  let rankSumPositives = 0;
  let i = 0;
  while (i < sorted.length) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1]!.score === sorted[i]!.score) j++;
    // Tied scores share the mean of their ranks (ranks are 1-based).
    const meanRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (sorted[k]!.label === 1) rankSumPositives += meanRank;
    i = j + 1;
  }
  const u = rankSumPositives - (positives * (positives + 1)) / 2;
  return u / (positives * negatives);
}

export interface RocPoint {
  threshold: number;
  fpr: number;
  tpr: number;
}

/** The empirical ROC curve: one point per distinct score, from (0,0) to (1,1). */
export function rocCurve(cases: readonly Scored[]): RocPoint[] {
  const positives = cases.filter((c) => c.label === 1).length;
  const negatives = cases.length - positives;
  if (positives === 0 || negatives === 0) return [];
  const sorted = [...cases].sort((a, b) => b.score - a.score);
  const points: RocPoint[] = [{ threshold: Number.POSITIVE_INFINITY, fpr: 0, tpr: 0 }];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < sorted.length; i++) {
    if (sorted[i]!.label === 1) tp++;
    else fp++;
    if (i + 1 === sorted.length || sorted[i + 1]!.score !== sorted[i]!.score) {
      points.push({ threshold: sorted[i]!.score, fpr: fp / negatives, tpr: tp / positives });
    }
  }
  return points;
}

/**
 * Percentile bootstrap interval of `statistic` over `groups` resampled with replacement. A group is
 * the unit that is independent: one case for a single finding, all of an image's cases when findings
 * are pooled (two findings on one image are not independent observations). Resamples where the
 * statistic is undefined (one outcome only) are skipped; undefined when fewer than half succeed.
 */
export function bootstrapInterval<T>(
  groups: readonly T[],
  statistic: (sample: T[]) => number | undefined,
  options: { resamples: number; seed: number; level?: number },
): [number, number] | undefined {
  if (groups.length === 0 || options.resamples <= 0) return undefined;
  const random = seededRandom(options.seed);
  const values: number[] = [];
  const sample = new Array<T>(groups.length);
  for (let r = 0; r < options.resamples; r++) {
    for (let i = 0; i < groups.length; i++) sample[i] = groups[Math.floor(random() * groups.length)]!;
    const value = statistic(sample);
    if (value !== undefined && Number.isFinite(value)) values.push(value);
  }
  if (values.length < options.resamples / 2) return undefined;
  values.sort((a, b) => a - b);
  const alpha = (1 - (options.level ?? 0.95)) / 2;
  return [quantile(values, alpha), quantile(values, 1 - alpha)];
}

/** Linear interpolation between order statistics (type 7, the R and NumPy default). */
export function quantile(sorted: readonly number[], p: number): number {
  const at = (sorted.length - 1) * p;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

/** Wilson score interval for a proportion k/n at 95%; undefined when n is 0. */
export function wilson(k: number, n: number): [number, number] | undefined {
  if (n === 0) return undefined;
  const z = 1.959963984540054;
  const p = k / n;
  const denominator = 1 + (z * z) / n;
  const centre = (p + (z * z) / (2 * n)) / denominator;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / denominator;
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

export interface Confusion {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

/** Counts at an operating point: a case is called positive when its score is ≥ `threshold`. */
export function confusionAt(cases: readonly Scored[], threshold: number): Confusion {
  const out: Confusion = { tp: 0, fp: 0, fn: 0, tn: 0 };
  for (const c of cases) {
    const called = c.score >= threshold;
    if (c.label === 1) {
      if (called) out.tp++;
      else out.fn++;
    } else if (called) out.fp++;
    else out.tn++;
  }
  return out;
}

export interface ReliabilityBin {
  /** Bin edges, [lo, hi) (the last bin includes 1). */
  lo: number;
  hi: number;
  count: number;
  meanScore: number;
  /** Observed frequency of the finding among the bin's cases. */
  observed: number;
}

export const RELIABILITY_BINS = 10;

export function reliabilityBins(cases: readonly Scored[], bins = RELIABILITY_BINS): ReliabilityBin[] {
  const out = Array.from({ length: bins }, (_, i) => ({
    lo: i / bins,
    hi: (i + 1) / bins,
    count: 0,
    sumScore: 0,
    sumLabel: 0,
  }));
  for (const c of cases) {
    const bin = out[Math.min(bins - 1, Math.max(0, Math.floor(c.score * bins)))]!;
    bin.count++;
    bin.sumScore += c.score;
    bin.sumLabel += c.label;
  }
  return out
    .filter((bin) => bin.count > 0)
    .map((bin) => ({
      lo: bin.lo,
      hi: bin.hi,
      count: bin.count,
      meanScore: bin.sumScore / bin.count,
      observed: bin.sumLabel / bin.count,
    }));
}

/** ECE = Σ (n_b / N) · |observed_b − meanScore_b|; undefined for no cases. */
export function expectedCalibrationError(cases: readonly Scored[], bins = RELIABILITY_BINS) {
  if (cases.length === 0) return undefined;
  return reliabilityBins(cases, bins).reduce(
    (sum, bin) => sum + (bin.count / cases.length) * Math.abs(bin.observed - bin.meanScore),
    0,
  );
}
