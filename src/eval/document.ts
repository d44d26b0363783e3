import { applyTable, type CalibrationTable } from '../engine/confidence/calibration.ts';
import { GROUNDING_MARGIN } from '../engine/confidence/probe.ts';
import type { CaseProblem, LabelledCase } from './cases.ts';
import type { Comparison } from './compare.ts';
import type { EvalRow } from './run.ts';
import {
  BOOTSTRAP_RESAMPLES,
  BOOTSTRAP_SEED,
  byKey,
  type EvalCase,
  type GroupMetrics,
  groupMetrics,
  joinCases,
  OPERATING_POINT,
  type UrgencyConfusion,
  urgencyConfusion,
} from './summary.ts';

/** metrics.json: everything the report shows, as numbers (no file names, no images, no read text). */
export interface EvalMetrics {
  createdAt: string;
  engine: string;
  model: string;
  promptVersion: string;
  method: {
    operatingPoint: number;
    groundingMargin: number;
    bootstrap: { resamples: number; seed: number; level: number };
    eceBins: number;
  };
  /** `failedBy`: failed images per error code (e.g. INPUT_CORRUPT), never their names. */
  images: { total: number; read: number; failed: number; failedBy: Record<string, number> };
  cases: { total: number; scored: number; unread: number; scoredByProbe: number; scoredByRead: number };
  overall: GroupMetrics;
  findings: Record<string, GroupMetrics>;
  modalities: Record<string, GroupMetrics>;
  /** Per split, when the labels give splits (a calibration split beside a test split, say). */
  splits: Record<string, GroupMetrics>;
  urgency: UrgencyConfusion | null;
  /** The installed calibration the scores went through (as reads apply it), or null for raw P(yes). */
  calibration: { method: string; n: number; fittedAt: string } | null;
  compare: Comparison | null;
  problems: CaseProblem[];
  caution: string;
}

export const CAUTION =
  'A local evaluation on your own cases, not a regulatory clearance: it says how this model and prompt version did on these images, read this way. It does not make quickread a diagnostic device; every read remains a second look, not a diagnosis.';

export function buildMetrics(input: {
  cases: readonly LabelledCase[];
  rows: ReadonlyMap<string, EvalRow>;
  problems: CaseProblem[];
  engine: string;
  model: string;
  promptVersion: string;
  compare?: Comparison;
  calibration?: CalibrationTable;
  now?: Date;
}): { metrics: EvalMetrics; scored: EvalCase[] } {
  const table = input.calibration;
  const { scored, unread } = joinCases(
    input.cases,
    input.rows,
    table ? (raw) => applyTable(table, raw) : undefined,
  );
  const options = { seed: BOOTSTRAP_SEED, resamples: BOOTSTRAP_RESAMPLES };
  const files = new Set(input.cases.map((c) => c.file));
  const failures = [...files].map((file) => input.rows.get(file)).filter((row) => row?.ok === false);
  const failedBy: Record<string, number> = {};
  for (const row of failures) {
    const code = row?.error?.code ?? 'INTERNAL';
    failedBy[code] = (failedBy[code] ?? 0) + 1;
  }
  const read = [...files].filter((file) => input.rows.get(file)?.ok === true).length;
  const grouped = (key: (c: EvalCase) => string, pooled: boolean) =>
    Object.fromEntries(
      [...byKey(scored, key)].map(([name, list]) => [name, groupMetrics(list, { ...options, pooled })]),
    );
  const metrics: EvalMetrics = {
    createdAt: (input.now ?? new Date()).toISOString(),
    engine: input.engine,
    model: input.model,
    promptVersion: input.promptVersion,
    method: {
      operatingPoint: OPERATING_POINT,
      groundingMargin: GROUNDING_MARGIN,
      bootstrap: { ...options, level: 0.95 },
      eceBins: 10,
    },
    images: { total: files.size, read, failed: failures.length, failedBy },
    cases: {
      total: input.cases.length,
      scored: scored.length,
      unread,
      scoredByProbe: scored.filter((c) => c.scoreFrom === 'probe').length,
      scoredByRead: scored.filter((c) => c.scoreFrom === 'read').length,
    },
    overall: groupMetrics(scored, { ...options, pooled: true }),
    findings: grouped((c) => c.finding, false),
    modalities: grouped((c) => c.modality, true),
    splits: scored.some((c) => c.split !== '') ? grouped((c) => c.split || '(none)', true) : {},
    urgency: urgencyConfusion(input.cases, input.rows) ?? null,
    calibration: table ? { method: table.method, n: table.n, fittedAt: table.fittedAt } : null,
    compare: input.compare ?? null,
    problems: input.problems,
    caution: CAUTION,
  };
  return { metrics, scored };
}
