import { auroc, bootstrapInterval } from './metrics.ts';
import { byKey, type EvalCase, groupByImage } from './summary.ts';

/**
 * Two reports on the same cases (two models, two prompt versions): ΔAUROC = this − other with a paired
 * bootstrap 95% interval — each resample draws the same images for both, so what the two share (hard
 * cases, easy cases) cancels out and the interval is about the difference alone. An interval that
 * excludes 0 says the difference is unlikely to be chance on a set like this one.
 */

export interface AurocDelta {
  /** Cases scored in both reports. */
  n: number;
  auroc: number | null;
  otherAuroc: number | null;
  delta: number | null;
  deltaCI: [number, number] | null;
}

export interface Comparison {
  other: { model: string; promptVersion: string };
  matched: number;
  /** Cases of this report that the other one did not score (its image failed or was not read). */
  unmatched: number;
  overall: AurocDelta;
  findings: Record<string, AurocDelta>;
}

interface Pair {
  file: string;
  mine: EvalCase;
  theirs: EvalCase;
}

const key = (c: { file: string; finding: string }) => `${c.file}\u0000${c.finding}`;

function delta(pairs: readonly Pair[], pooled: boolean, options: { seed: number; resamples: number }) {
  const mine = auroc(pairs.map((p) => p.mine));
  const theirs = auroc(pairs.map((p) => p.theirs));
  const out: AurocDelta = {
    n: pairs.length,
    auroc: mine ?? null,
    otherAuroc: theirs ?? null,
    delta: mine === undefined || theirs === undefined ? null : mine - theirs,
    deltaCI: null,
  };
  if (out.delta === null) return out;
  const groups = pooled ? groupByImage(pairs) : pairs.map((p) => [p]);
  const interval = bootstrapInterval(
    groups,
    (sample) => {
      const flat = sample.flat();
      const a = auroc(flat.map((p) => p.mine));
      const b = auroc(flat.map((p) => p.theirs));
      return a === undefined || b === undefined ? undefined : a - b;
    },
    options,
  );
  out.deltaCI = interval ?? null;
  return out;
}

export function compareReports(
  mine: readonly EvalCase[],
  theirs: readonly EvalCase[],
  other: { model: string; promptVersion: string },
  options: { seed: number; resamples: number },
): Comparison {
  const theirsByKey = new Map(theirs.map((c) => [key(c), c]));
  const pairs: Pair[] = [];
  for (const c of mine) {
    const match = theirsByKey.get(key(c));
    if (match) pairs.push({ file: c.file, mine: c, theirs: match });
  }
  const findings: Record<string, AurocDelta> = {};
  for (const [finding, list] of byKey(pairs, (p) => p.mine.finding)) {
    findings[finding] = delta(list, false, options);
  }
  return {
    other,
    matched: pairs.length,
    unmatched: mine.length - pairs.length,
    overall: delta(pairs, true, options),
    findings,
  };
}
