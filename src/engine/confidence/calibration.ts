import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { ConfidenceSource } from '../../core/types.ts';

/**
 * Calibration maps a raw confidence (probe P(yes), an engine score, a model-stated number) to the
 * observed frequency of the finding being right, fitted on local labelled cases. A table applies only to
 * the model + prompt version + confidence source it was fitted for; anything else stays `calibrated:
 * false`. Two methods: Platt scaling (a logistic curve on logit(raw); Platt 1999, with his smoothed
 * targets) for small sets, isotonic regression (pool-adjacent-violators) once there are enough cases.
 */

export const ISOTONIC_MIN_CASES = 200;

const tableSchema = z.object({
  model: z.string(),
  promptVersion: z.string(),
  source: z.enum(['probe-logprob', 'token-logprob', 'engine', 'model-stated']),
  method: z.enum(['platt', 'isotonic']),
  platt: z.object({ a: z.number(), b: z.number() }).optional(),
  isotonic: z.object({ x: z.array(z.number()), y: z.array(z.number()) }).optional(),
  n: z.number().int(),
  positives: z.number().int(),
  fittedAt: z.string(),
  brierBefore: z.number(),
  brierAfter: z.number(),
});

export type CalibrationTable = z.infer<typeof tableSchema>;

export interface LabelledCase {
  raw: number;
  label: 0 | 1;
}

const EPS = 1e-6;
const clamp01 = (x: number) => Math.min(1 - EPS, Math.max(EPS, x));
const logit = (p: number) => Math.log(clamp01(p) / (1 - clamp01(p)));
const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/** Platt scaling: Newton's method with step halving (Lin, Lin & Weng 2007) on the smoothed targets. */
export function fitPlatt(cases: readonly LabelledCase[]): { a: number; b: number } {
  const positives = cases.filter((c) => c.label === 1).length;
  const negatives = cases.length - positives;
  const hi = (positives + 1) / (positives + 2);
  const lo = 1 / (negatives + 2);
  const xs = cases.map((c) => logit(c.raw));
  const ts = cases.map((c) => (c.label === 1 ? hi : lo));
  // A small ridge towards the identity map (a=1, b=0) keeps the problem strictly convex when every raw
  // value is the same (the logit column is then collinear with the intercept).
  const ridge = 1e-2;
  const loss = (a: number, b: number) => {
    let sum = (ridge / 2) * ((a - 1) ** 2 + b ** 2);
    for (let i = 0; i < xs.length; i++) {
      const z = a * xs[i]! + b;
      // Cross-entropy written with log1p so large |z| does not overflow.
      sum += ts[i]! * Math.log1p(Math.exp(-z)) + (1 - ts[i]!) * Math.log1p(Math.exp(z));
      if (!Number.isFinite(sum)) return Number.POSITIVE_INFINITY;
    }
    return sum;
  };
  let a = 1;
  let b = 0;
  let current = loss(a, b);
  for (let iteration = 0; iteration < 100; iteration++) {
    let ga = ridge * (a - 1);
    let gb = ridge * b;
    let haa = ridge;
    let hab = 0;
    let hbb = ridge;
    for (let i = 0; i < xs.length; i++) {
      const p = sigmoid(a * xs[i]! + b);
      const d = p - ts[i]!;
      const w = Math.max(p * (1 - p), 1e-12);
      ga += d * xs[i]!;
      gb += d;
      haa += w * xs[i]! * xs[i]!;
      hab += w * xs[i]!;
      hbb += w;
    }
    const det = haa * hbb - hab * hab;
    if (!(Math.abs(det) > 1e-18)) break;
    const da = (hbb * ga - hab * gb) / det;
    const db = (haa * gb - hab * ga) / det;
    let step = 1;
    let improved = false;
    while (step > 1e-10) {
      const next = loss(a - step * da, b - step * db);
      if (next < current - 1e-12) {
        a -= step * da;
        b -= step * db;
        current = next;
        improved = true;
        break;
      }
      step /= 2;
    }
    if (!improved || Math.abs(step * da) + Math.abs(step * db) < 1e-10) break;
  }
  return { a, b };
}

/** Isotonic regression (pool adjacent violators): a non-decreasing step function through block means. */
export function fitIsotonic(cases: readonly LabelledCase[]): { x: number[]; y: number[] } {
  const sorted = [...cases].sort((p, q) => p.raw - q.raw);
  const blocks: Array<{ sum: number; count: number; xSum: number }> = [];
  for (const c of sorted) {
    blocks.push({ sum: c.label, count: 1, xSum: c.raw });
    while (blocks.length > 1) {
      const last = blocks[blocks.length - 1]!;
      const prev = blocks[blocks.length - 2]!;
      if (prev.sum / prev.count <= last.sum / last.count) break;
      blocks.splice(blocks.length - 2, 2, {
        sum: prev.sum + last.sum,
        count: prev.count + last.count,
        xSum: prev.xSum + last.xSum,
      });
    }
  }
  return { x: blocks.map((b) => b.xSum / b.count), y: blocks.map((b) => b.sum / b.count) };
}

export function applyTable(table: CalibrationTable, raw: number): number {
  if (table.method === 'platt' && table.platt) return sigmoid(table.platt.a * logit(raw) + table.platt.b);
  const iso = table.isotonic;
  if (!iso || iso.x.length === 0) return raw;
  if (raw <= iso.x[0]!) return iso.y[0]!;
  const last = iso.x.length - 1;
  if (raw >= iso.x[last]!) return iso.y[last]!;
  let i = 1;
  while (iso.x[i]! < raw) i++;
  const x0 = iso.x[i - 1]!;
  const x1 = iso.x[i]!;
  const t = x1 === x0 ? 0 : (raw - x0) / (x1 - x0);
  return iso.y[i - 1]! + t * (iso.y[i]! - iso.y[i - 1]!);
}

const brier = (cases: readonly LabelledCase[], f: (raw: number) => number) =>
  cases.reduce((sum, c) => sum + (f(c.raw) - c.label) ** 2, 0) / Math.max(1, cases.length);

export function fitTable(
  cases: readonly LabelledCase[],
  key: { model: string; promptVersion: string; source: ConfidenceSource },
  method?: 'platt' | 'isotonic',
  now: Date = new Date(),
): CalibrationTable {
  const chosen = method ?? (cases.length >= ISOTONIC_MIN_CASES ? 'isotonic' : 'platt');
  const base = {
    ...key,
    method: chosen,
    n: cases.length,
    positives: cases.filter((c) => c.label === 1).length,
    fittedAt: now.toISOString(),
    brierBefore: brier(cases, (raw) => raw),
  };
  const table: CalibrationTable =
    chosen === 'platt'
      ? { ...base, platt: fitPlatt(cases), brierAfter: 0 }
      : { ...base, isotonic: fitIsotonic(cases), brierAfter: 0 };
  table.brierAfter = brier(cases, (raw) => applyTable(table, raw));
  return table;
}

export function tableFileName(key: {
  model: string;
  promptVersion: string;
  source: ConfidenceSource;
}): string {
  const slug = (text: string) => text.replace(/[^A-Za-z0-9.@-]+/g, '_');
  return `${slug(key.model)}__${slug(key.promptVersion)}__${key.source}.json`;
}

export const calibrationDir = (dataDir: string) => join(dataDir, 'calibration');

export async function saveTable(dataDir: string, table: CalibrationTable): Promise<string> {
  const dir = calibrationDir(dataDir);
  await mkdir(dir, { recursive: true });
  const path = join(dir, tableFileName(table));
  await writeFile(`${path}.tmp`, `${JSON.stringify(table, null, 2)}\n`);
  await rename(`${path}.tmp`, path);
  return path;
}

/** The tables that apply to this model + prompt version, by source; a missing or foreign file applies nothing. */
export async function loadTables(
  dataDir: string,
  model: string,
  promptVersion: string,
): Promise<Partial<Record<ConfidenceSource, CalibrationTable>>> {
  const out: Partial<Record<ConfidenceSource, CalibrationTable>> = {};
  for (const source of ['probe-logprob', 'token-logprob', 'engine', 'model-stated'] as const) {
    const path = join(calibrationDir(dataDir), tableFileName({ model, promptVersion, source }));
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch {
      continue;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      continue;
    }
    const parsed = tableSchema.safeParse(json);
    if (parsed.success && parsed.data.model === model && parsed.data.promptVersion === promptVersion) {
      out[source] = parsed.data;
    }
  }
  return out;
}
