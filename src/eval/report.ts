import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { csvCell } from '../commands/batch-report.ts';
import { type Chart, confusionSpec, reliabilitySpec, renderChart, rocSpec } from './charts.ts';
import type { AurocDelta } from './compare.ts';
import type { EvalMetrics } from './document.ts';
import { reportHtml } from './report-html.ts';
import { type EvalCase, type GroupMetrics, groupMetrics, URGENCIES } from './summary.ts';

/**
 * The report folder: report.html (self-contained: charts embedded as PNG data URLs, no script, no
 * network), metrics.json, metrics.csv, and charts/*.{svg,png} for slides and papers.
 */

/** At most this many findings get their own curve; more would be unreadable in one chart. */
const MAX_SERIES = 8;

export async function renderCharts(
  metrics: EvalMetrics,
  other?: { label: string; scored: readonly EvalCase[]; mine: readonly EvalCase[] },
): Promise<Chart[]> {
  const findings = Object.entries(metrics.findings).slice(0, MAX_SERIES);
  const charts: Chart[] = [];
  if (metrics.overall.roc.length > 0) {
    const series = [
      { series: 'all findings', points: metrics.overall.roc },
      ...findings.filter(([, m]) => m.roc.length > 0).map(([name, m]) => ({ series: name, points: m.roc })),
    ];
    charts.push(
      await renderChart('roc', 'ROC curves', rocSpec('ROC: probe P(yes) against the labels', series)),
    );
  }
  if (metrics.overall.reliability.length > 0) {
    const series = [
      { series: 'all findings', bins: metrics.overall.reliability },
      ...findings.map(([name, m]) => ({ series: name, bins: m.reliability })),
    ];
    charts.push(
      await renderChart(
        'reliability',
        'Reliability diagram',
        reliabilitySpec('Reliability of P(yes)', series),
      ),
    );
  }
  const c = metrics.overall.confusion;
  charts.push(
    await renderChart(
      'confusion',
      'Confusion table at the operating point',
      confusionSpec(
        `Findings at P(yes) ≥ ${metrics.method.operatingPoint}`,
        [
          { reference: 'present', read: 'yes', count: c.tp },
          { reference: 'present', read: 'no', count: c.fn },
          { reference: 'absent', read: 'yes', count: c.fp },
          { reference: 'absent', read: 'no', count: c.tn },
        ],
        ['present', 'absent'],
        ['yes', 'no'],
      ),
    ),
  );
  if (metrics.urgency) {
    const cells = URGENCIES.flatMap((reference, i) =>
      URGENCIES.map((read, j) => ({ reference, read, count: metrics.urgency!.matrix[i]![j]! })),
    );
    charts.push(
      await renderChart(
        'urgency',
        'Urgency confusion',
        confusionSpec('Urgency: reference × read', cells, URGENCIES),
      ),
    );
  }
  if (other && metrics.compare) {
    const options = { seed: metrics.method.bootstrap.seed, resamples: 0, pooled: true };
    const keys = new Set(other.scored.map((x) => `${x.file}\u0000${x.finding}`));
    const mine = other.mine.filter((x) => keys.has(`${x.file}\u0000${x.finding}`));
    const curve = (cases: readonly EvalCase[]): GroupMetrics['roc'] => groupMetrics(cases, options).roc;
    charts.push(
      await renderChart(
        'compare-roc',
        'ROC, both reports',
        rocSpec('ROC on the shared cases', [
          { series: `${metrics.model} · ${metrics.promptVersion}`, points: curve(mine) },
          { series: other.label, points: curve(other.scored) },
        ]),
      ),
    );
  }
  return charts;
}

const num = (value: number | null | undefined, digits = 4) =>
  value === null || value === undefined ? '' : value.toFixed(digits);

function csvRow(scope: string, name: string, m: GroupMetrics): string {
  return [
    scope,
    name,
    m.n,
    m.positives,
    num(m.prevalence),
    num(m.sensitivity),
    num(m.sensitivityCI?.[0]),
    num(m.sensitivityCI?.[1]),
    num(m.specificity),
    num(m.specificityCI?.[0]),
    num(m.specificityCI?.[1]),
    num(m.auroc),
    num(m.aurocCI?.[0]),
    num(m.aurocCI?.[1]),
    num(m.ece),
    num(m.groundingRate),
    num(m.readHitRate),
    num(m.readFalseMentionRate),
  ]
    .map((cell) => csvCell(cell))
    .join(',');
}

export function metricsCsv(metrics: EvalMetrics): string {
  const header =
    'scope,name,n,positives,prevalence,sensitivity,sensitivity_lo,sensitivity_hi,specificity,specificity_lo,specificity_hi,auroc,auroc_lo,auroc_hi,ece,grounding_rate,read_hit_rate,read_false_mention_rate';
  const lines = [
    header,
    csvRow('overall', 'all findings', metrics.overall),
    ...Object.entries(metrics.findings).map(([name, m]) => csvRow('finding', name, m)),
    ...Object.entries(metrics.modalities).map(([name, m]) => csvRow('modality', name, m)),
    ...Object.entries(metrics.splits).map(([name, m]) => csvRow('split', name, m)),
  ];
  return `${lines.join('\r\n')}\r\n`;
}

/** compare.csv (with --compare): ΔAUROC per scope, this report − the other, with its paired interval. */
export function compareCsv(metrics: EvalMetrics): string | undefined {
  const c = metrics.compare;
  if (!c) return undefined;
  const row = (name: string, d: AurocDelta) =>
    [name, d.n, num(d.auroc), num(d.otherAuroc), num(d.delta), num(d.deltaCI?.[0]), num(d.deltaCI?.[1])]
      .map((cell) => csvCell(cell))
      .join(',');
  const lines = [
    'name,n,auroc,other_auroc,delta_auroc,delta_lo,delta_hi',
    row('all findings', c.overall),
    ...Object.entries(c.findings).map(([name, d]) => row(name, d)),
  ];
  return `${lines.join('\r\n')}\r\n`;
}

/** Write through a temporary name, so a crash never leaves half a report that looks whole. */
async function put(path: string, data: string | Buffer): Promise<void> {
  await writeFile(`${path}.tmp`, data);
  await rename(`${path}.tmp`, path);
}

export async function writeReport(outDir: string, metrics: EvalMetrics, charts: readonly Chart[]) {
  await mkdir(join(outDir, 'charts'), { recursive: true });
  for (const chart of charts) {
    await put(join(outDir, 'charts', `${chart.name}.svg`), chart.svg);
    await put(join(outDir, 'charts', `${chart.name}.png`), chart.png);
  }
  await put(join(outDir, 'metrics.json'), `${JSON.stringify(metrics, null, 2)}\n`);
  await put(join(outDir, 'metrics.csv'), metricsCsv(metrics));
  const compare = compareCsv(metrics);
  if (compare) await put(join(outDir, 'compare.csv'), compare);
  await put(join(outDir, 'report.html'), reportHtml(metrics, charts));
  return [
    'report.html',
    'metrics.json',
    'metrics.csv',
    ...(compare ? ['compare.csv'] : []),
    ...charts.map((c) => `charts/${c.name}.png`),
  ];
}
