import { GROUNDING_MARGIN } from '../engine/confidence/probe.ts';
import type { LabelledCase } from './cases.ts';
import {
  auroc,
  bootstrapInterval,
  type Confusion,
  confusionAt,
  expectedCalibrationError,
  type ReliabilityBin,
  type RocPoint,
  reliabilityBins,
  rocCurve,
  type Scored,
  wilson,
} from './metrics.ts';
import { namedInRead } from './read-match.ts';
import type { EvalRow } from './run.ts';

/**
 * From labelled cases + the reads' rows to the metrics of a report: overall (pooled over findings),
 * per finding and per modality. The score of a case is the probe's P(yes) on the image; a case whose
 * engine gave no log-probabilities falls back to the read's own confidence for a finding it named, and
 * 0 for one it did not (counted apart, so a report says how many such cases it has).
 */

/** A read "calls" a finding when the probe's P(yes) is at least this: the model says Yes rather than No. */
export const OPERATING_POINT = 0.5;
export const BOOTSTRAP_RESAMPLES = 2000;
export const BOOTSTRAP_SEED = 1;

export interface EvalCase extends Scored {
  /** The probe's own P(yes) (before any calibration), or the read's fallback score. */
  raw: number;
  file: string;
  finding: string;
  modality: string;
  /** The row's split ("" when the CSV gives none). */
  split: string;
  /** P(yes) on a blank image of the same size, when probed. */
  blank?: number;
  scoreFrom: 'probe' | 'read';
  /** The free-text read names the finding (in its findings or its impression). */
  named: boolean;
}

export interface GroupMetrics {
  n: number;
  positives: number;
  prevalence: number;
  confusion: Confusion;
  sensitivity: number | null;
  sensitivityCI: [number, number] | null;
  specificity: number | null;
  specificityCI: [number, number] | null;
  auroc: number | null;
  aurocCI: [number, number] | null;
  ece: number | null;
  /** Among cases the probe calls present: the share whose P(yes) beats the blank image's by the margin. */
  groundingRate: number | null;
  /** Among positive cases: the share the free-text read names (its own sensitivity). */
  readHitRate: number | null;
  /** Among negative cases: the share the free-text read names anyway. */
  readFalseMentionRate: number | null;
  roc: RocPoint[];
  reliability: ReliabilityBin[];
}

export function joinCases(
  cases: readonly LabelledCase[],
  rows: ReadonlyMap<string, EvalRow>,
  /** The calibration reads of this model apply to probe scores, when one is installed. */
  calibrate?: (raw: number) => number,
): { scored: EvalCase[]; unread: number } {
  const scored: EvalCase[] = [];
  let unread = 0;
  for (const labelled of cases) {
    const row = rows.get(labelled.file);
    if (!row?.ok || !row.read) {
      unread++;
      continue;
    }
    const probe = row.probes[labelled.finding];
    const named = namedInRead(labelled.finding, row.read);
    const real = probe?.real ?? null;
    const listed = row.read.findings.find((f) =>
      namedInRead(labelled.finding, { ...row.read!, findings: [f] }),
    );
    const fallback = named ? (listed?.confidence ?? 1) : 0;
    const out: EvalCase = {
      raw: real ?? fallback,
      file: labelled.file,
      finding: labelled.finding,
      modality: labelled.modality ?? row.modality?.toUpperCase() ?? 'unknown',
      split: labelled.split ?? '',
      label: labelled.present,
      score: real === null ? fallback : calibrate ? calibrate(real) : real,
      scoreFrom: real === null ? 'read' : 'probe',
      named,
    };
    if (probe?.blank !== null && probe?.blank !== undefined) out.blank = probe.blank;
    scored.push(out);
  }
  return { scored, unread };
}

const rate = (k: number, n: number) => (n === 0 ? null : k / n);

/** Images are the independent unit: pooled findings of one image are resampled together. */
export function groupByImage<T extends { file: string }>(cases: readonly T[]): T[][] {
  const byFile = new Map<string, T[]>();
  for (const c of cases) {
    const list = byFile.get(c.file) ?? [];
    list.push(c);
    byFile.set(c.file, list);
  }
  return [...byFile.values()];
}

export function groupMetrics(
  cases: readonly EvalCase[],
  options: { seed: number; resamples: number; pooled: boolean },
): GroupMetrics {
  const positives = cases.filter((c) => c.label === 1);
  const negatives = cases.filter((c) => c.label === 0);
  const confusion = confusionAt(cases, OPERATING_POINT);
  const groups = options.pooled ? groupByImage(cases) : cases.map((c) => [c]);
  const area = auroc(cases);
  const interval =
    area === undefined
      ? undefined
      : bootstrapInterval(groups, (sample) => auroc(sample.flat()), {
          resamples: options.resamples,
          seed: options.seed,
        });
  // Grounding compares the two raw probe answers, as a read does before any calibration.
  const called = cases.filter((c) => c.score >= OPERATING_POINT && c.blank !== undefined);
  const grounded = called.filter((c) => c.raw - c.blank! >= GROUNDING_MARGIN).length;
  return {
    n: cases.length,
    positives: positives.length,
    prevalence: rate(positives.length, cases.length) ?? 0,
    confusion,
    sensitivity: rate(confusion.tp, positives.length),
    sensitivityCI: wilson(confusion.tp, positives.length) ?? null,
    specificity: rate(confusion.tn, negatives.length),
    specificityCI: wilson(confusion.tn, negatives.length) ?? null,
    auroc: area ?? null,
    aurocCI: interval ?? null,
    ece: expectedCalibrationError(cases) ?? null,
    groundingRate: rate(grounded, called.length),
    readHitRate: rate(positives.filter((c) => c.named).length, positives.length),
    readFalseMentionRate: rate(negatives.filter((c) => c.named).length, negatives.length),
    roc: rocCurve(cases),
    reliability: reliabilityBins(cases),
  };
}

export function byKey<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const list = out.get(key(item)) ?? [];
    list.push(item);
    out.set(key(item), list);
  }
  return new Map([...out].sort(([a], [b]) => a.localeCompare(b)));
}

export const URGENCIES = ['routine', 'urgent', 'critical'] as const;

export interface UrgencyConfusion {
  labels: typeof URGENCIES;
  /** matrix[reference][read]: counts of images. */
  matrix: number[][];
  n: number;
  agreement: number | null;
}

/** Reference urgency (from the labels) against the read's urgency, per image; undefined without labels. */
export function urgencyConfusion(
  cases: readonly LabelledCase[],
  rows: ReadonlyMap<string, EvalRow>,
): UrgencyConfusion | undefined {
  const reference = new Map<string, (typeof URGENCIES)[number]>();
  for (const c of cases) if (c.urgency && !reference.has(c.file)) reference.set(c.file, c.urgency);
  const matrix = URGENCIES.map(() => URGENCIES.map(() => 0));
  let n = 0;
  let agree = 0;
  for (const [file, expected] of reference) {
    const read = rows.get(file)?.read;
    if (!read) continue;
    matrix[URGENCIES.indexOf(expected)]![URGENCIES.indexOf(read.urgency)]! += 1;
    n++;
    if (read.urgency === expected) agree++;
  }
  if (reference.size === 0) return undefined;
  return { labels: URGENCIES, matrix, n, agreement: rate(agree, n) };
}
