import { DISCLAIMER } from '../core/reply.ts';
import type { Chart } from './charts.ts';
import type { AurocDelta } from './compare.ts';
import type { EvalMetrics } from './document.ts';
import type { GroupMetrics } from './summary.ts';

/**
 * report.html: one file that opens anywhere (mail it, put it on a shared drive). No script and a
 * Content-Security-Policy that allows only inline styles and data: images, so it can never fetch
 * anything; every text from the labels (finding and modality names) is HTML-escaped.
 */

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!,
  );

const pct = (value: number | null | undefined) =>
  value === null || value === undefined ? '—' : `${(value * 100).toFixed(1)}%`;
const dec = (value: number | null | undefined, digits = 3) =>
  value === null || value === undefined ? '—' : value.toFixed(digits);
const interval = (ci: [number, number] | null, format: (v: number) => string) =>
  ci ? ` <span class="ci">(${format(ci[0])}–${format(ci[1])})</span>` : '';

function metricsRow(name: string, m: GroupMetrics): string {
  const cells = [
    escapeHtml(name),
    `${m.n}`,
    `${m.positives} (${pct(m.prevalence)})`,
    `${pct(m.sensitivity)}${interval(m.sensitivityCI, pct)}`,
    `${pct(m.specificity)}${interval(m.specificityCI, pct)}`,
    `${dec(m.auroc)}${interval(m.aurocCI, (v) => dec(v))}`,
    dec(m.ece),
    pct(m.groundingRate),
    pct(m.readHitRate),
    pct(m.readFalseMentionRate),
  ];
  return `<tr>${cells.map((cell, i) => (i === 0 ? `<th scope="row">${cell}</th>` : `<td>${cell}</td>`)).join('')}</tr>`;
}

function metricsTable(caption: string, groups: Array<[string, GroupMetrics]>): string {
  if (groups.length === 0) return '';
  const head = [
    '',
    'cases',
    'positive (prevalence)',
    'sensitivity',
    'specificity',
    'AUROC (95% CI)',
    'ECE',
    'grounded',
    'read names it',
    'read names it when absent',
  ];
  return `<table><caption>${escapeHtml(caption)}</caption><thead><tr>${head.map((h) => `<th scope="col">${h}</th>`).join('')}</tr></thead><tbody>${groups.map(([name, m]) => metricsRow(name, m)).join('')}</tbody></table>`;
}

function deltaRow(name: string, d: AurocDelta): string {
  const ci = d.deltaCI ? `${dec(d.deltaCI[0])} to ${dec(d.deltaCI[1])}` : '—';
  return `<tr><th scope="row">${escapeHtml(name)}</th><td>${d.n}</td><td>${dec(d.auroc)}</td><td>${dec(d.otherAuroc)}</td><td>${d.delta === null ? '—' : (d.delta >= 0 ? '+' : '') + dec(d.delta)}</td><td>${ci}</td></tr>`;
}

function compareSection(metrics: EvalMetrics): string {
  const c = metrics.compare;
  if (!c) return '';
  const rows = [
    deltaRow('all findings', c.overall),
    ...Object.entries(c.findings).map(([n, d]) => deltaRow(n, d)),
  ];
  return `<section><h2>Compared with ${escapeHtml(c.other.model)} · ${escapeHtml(c.other.promptVersion)}</h2>
<p>${c.matched} cases scored in both reports${c.unmatched > 0 ? `; ${c.unmatched} scored only here are left out` : ''}. ΔAUROC = this report − the other; the 95% interval is a paired bootstrap over the same images. An interval that excludes 0 means the difference is unlikely to be chance on a set like this.</p>
<table><thead><tr><th></th><th scope="col">cases</th><th scope="col">AUROC here</th><th scope="col">AUROC other</th><th scope="col">ΔAUROC</th><th scope="col">95% CI</th></tr></thead><tbody>${rows.join('')}</tbody></table></section>`;
}

function figure(chart: Chart): string {
  return `<figure><img src="data:image/png;base64,${chart.png.toString('base64')}" alt="${escapeHtml(chart.title)}"><figcaption>${escapeHtml(chart.title)}</figcaption></figure>`;
}

const STYLE = `body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:1rem;color:#1a202c}
.caution{border-left:4px solid #c05621;background:#fffaf0;padding:.6rem 1rem}
table{border-collapse:collapse;margin:1rem 0;width:100%;font-size:14px}caption{text-align:left;font-weight:600;padding:.3rem 0}
th,td{border-bottom:1px solid #e2e8f0;padding:.3rem .5rem;text-align:right}th[scope=row],caption{text-align:left}
.ci{color:#4a5568;font-size:12px}.figures{display:flex;flex-wrap:wrap;gap:1rem}figure{margin:0}
figure img{max-width:100%;height:auto;width:360px}figcaption{font-size:13px;color:#4a5568}dt{font-weight:600}`;

const GLOSSARY = `<dl>
<dt>Prevalence</dt><dd>The share of cases where the finding is present. Sensitivity, specificity and the read's hit rate depend on it less than predictive values would, but a finding with 3 positive cases tells you little.</dd>
<dt>Sensitivity / specificity</dt><dd>At the operating point the read uses — the probe's answer is Yes when P(yes) ≥ 0.5 — the share of present findings called present, and of absent findings called absent. Wilson 95% intervals.</dd>
<dt>AUROC</dt><dd>The chance that a case with the finding gets a higher P(yes) than a case without it (0.5 = chance, 1 = perfect), over every threshold. The interval is a seeded percentile bootstrap (2,000 resamples; pooled rows resample whole images).</dd>
<dt>ECE</dt><dd>Expected calibration error: how far P(yes) is from the observed frequency, averaged over ten bins (0 = a stated 70% is right 70% of the time). The reliability diagram shows the same bins; points under the diagonal are over-confident.</dd>
<dt>Grounded</dt><dd>Of the findings the probe calls present, the share whose P(yes) on the image beats P(yes) on a blank image of the same size by at least 0.1 — the rest the model "sees" without looking.</dd>
<dt>Read names it</dt><dd>The free-text read's own hit rate: the share of present findings named in its findings or impression (a negated mention such as "no pneumothorax" does not count); and how often it names an absent one.</dd>
</dl>`;

export function reportHtml(metrics: EvalMetrics, charts: readonly Chart[]): string {
  const problems =
    metrics.problems.length === 0
      ? ''
      : `<section><h2>Rows of the labels file that were skipped or changed</h2><ul>${metrics.problems.map((p) => `<li>line ${p.line}: ${escapeHtml(p.message)}</li>`).join('')}</ul></section>`;
  const fallback =
    metrics.cases.scoredByRead > 0
      ? `<p>${metrics.cases.scoredByRead} case(s) had no probe log-probabilities: their score is the read's own confidence (0 when the read did not name the finding).</p>`
      : '';
  const calibration = metrics.calibration
    ? `<p>Scores went through the installed calibration (${escapeHtml(metrics.calibration.method)}, fitted on ${metrics.calibration.n} cases, ${escapeHtml(metrics.calibration.fittedAt)}), as reads apply it. If those were these same cases, sensitivity, specificity and ECE here are optimistic: fit on one split, evaluate on another.</p>`
    : "<p>Scores are the probe's raw P(yes) (no calibration is installed for this model and prompt version), as reads show them now.</p>";
  const failedBy = Object.entries(metrics.images.failedBy)
    .map(([code, count]) => `${escapeHtml(code)} × ${count}`)
    .join(', ');
  const failures = failedBy
    ? `<p>Images that could not be read: ${failedBy} (see results.jsonl; rerun with --resume to retry engine failures).</p>`
    : '';
  const urgency = metrics.urgency
    ? `<p>Urgency agreed with the reference on ${pct(metrics.urgency.agreement)} of ${metrics.urgency.n} images.</p>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>quickread eval — ${escapeHtml(metrics.model)}</title><style>${STYLE}</style></head>
<body><h1>quickread evaluation</h1>
<p class="caution"><strong>${escapeHtml(metrics.caution)}</strong></p>
<p>Model <strong>${escapeHtml(metrics.model)}</strong> · prompt ${escapeHtml(metrics.promptVersion)} · engine ${escapeHtml(metrics.engine)} · ${escapeHtml(metrics.createdAt)}</p>
<p>${metrics.images.total} images (${metrics.images.read} read, ${metrics.images.failed} failed) · ${metrics.cases.total} labelled cases, ${metrics.cases.scored} scored.</p>
${failures}
${calibration}
${fallback}
${metricsTable('All findings (pooled)', [['all findings', metrics.overall]])}
${metricsTable('Per finding', Object.entries(metrics.findings))}
${metricsTable('Per modality', Object.entries(metrics.modalities))}
${metricsTable('Per split', Object.entries(metrics.splits))}
${urgency}
<div class="figures">${charts.map(figure).join('')}</div>
${compareSection(metrics)}
<section><h2>What the numbers mean</h2>${GLOSSARY}</section>
${problems}
<p><em>${escapeHtml(DISCLAIMER)}</em></p>
</body></html>
`;
}
