import type { ConfidenceSource, WindowInfo } from './types.ts';

/**
 * Words a clinician reads at a glance (issue 18), shared by every card, `ask`, the API and batch
 * summaries. A bare "80%" in bold reads as "right 8 times in 10", which an uncalibrated model
 * probability is not: a number is always shown second, after a band, and always with its source.
 */

export type ConfidenceBand = 'low' | 'moderate' | 'high';

/** Bands on the 0..1 value: coarse on purpose, so a reader does not weigh 78% against 81%. */
export function confidenceBand(value: number): ConfidenceBand {
  if (value >= 0.7) return 'high';
  if (value >= 0.4) return 'moderate';
  return 'low';
}

const sourceWords: Record<ConfidenceSource, string> = {
  'probe-logprob': 'model probability',
  'token-logprob': 'model probability',
  engine: 'engine score',
  'model-stated': 'the model’s own estimate',
};

/** "model probability · not calibrated": where the number came from, in words. */
export function confidenceSourceWords(source: ConfidenceSource, calibrated: boolean, cases?: number): string {
  const on = cases ? `calibrated on ${cases} local cases` : 'calibrated on local cases';
  return `${sourceWords[source]} · ${calibrated ? on : 'not calibrated'}`;
}

/** "high (87%)": the band first, the percentage second. */
export function confidenceHeadline(value: number): string {
  const pct = Math.round(Math.min(1, Math.max(0, value)) * 100);
  return `${confidenceBand(value)} (${pct}%)`;
}

/** "high (87%) · model probability · not calibrated" — one line for plain-text surfaces. */
export function confidenceText(
  value: number,
  source: ConfidenceSource,
  calibrated: boolean,
  cases?: number,
): string {
  return `${confidenceHeadline(value)} · ${confidenceSourceWords(source, calibrated, cases)}`;
}

/** The bands' limits, for a legend. */
export const bandLegend = 'low < 40%, moderate 40–69%, high ≥ 70%';

/**
 * One line saying what a card's percentages are ("Confidence: model probability · not calibrated
 * (low < 40%…)"), for Slack's context line and Discord's footer; undefined without findings.
 */
export function confidenceLegend(
  findings: ReadonlyArray<{ confidenceSource: ConfidenceSource; calibrated: boolean; calibratedOn?: number }>,
): string | undefined {
  const sources = [
    ...new Set(findings.map((f) => confidenceSourceWords(f.confidenceSource, f.calibrated, f.calibratedOn))),
  ];
  return sources.length ? `Confidence: ${sources.join('; ')} (${bandLegend})` : undefined;
}

/** What the number means, for a tap-to-explain or a footnote. */
export function confidenceExplanation(source: ConfidenceSource, calibrated: boolean): string {
  const how: Record<ConfidenceSource, string> = {
    'probe-logprob':
      'the probability the model gives to "yes" when asked whether this finding is present in the image',
    'token-logprob': 'the probability the model gave to the words of this finding as it wrote them',
    engine: 'a score reported by the model server',
    'model-stated': 'a number the model wrote itself; it is not a measured probability',
  };
  const meaning = calibrated
    ? 'It has been calibrated against confirmed local cases for this model and prompt.'
    : 'It has not been calibrated against confirmed cases, so 80% does not mean right 8 times in 10.';
  return `Confidence is ${how[source]}. ${meaning} Low below 40%, moderate 40–69%, high from 70%.`;
}

/** "lung window, chosen from the question (C -600, W 1500)": which display window the model saw, and why. */
export function windowWords(window: Pick<WindowInfo, 'center' | 'width' | 'source' | 'preset'>): string {
  const numbers = `C ${Math.round(window.center)}, W ${Math.round(window.width)}`;
  switch (window.source) {
    case 'none':
    case 'full-range':
      return 'shown as stored (no windowing)';
    case 'voi-lut':
      return "the file's own VOI LUT";
    case 'dataset':
      return `the file's own window (${numbers})`;
    case 'preset':
      return `${window.preset ?? 'preset'} window, chosen from the question (${numbers})`;
    case 'user':
      return `${window.preset ? `${window.preset} window` : 'window'} as requested (${numbers})`;
    case 'percentile':
      return `automatic window from the pixel values (${numbers})`;
  }
}

/** The window as data for JSON answers (`ask --json`, the API, batch rows), with its one-line description. */
export function windowJson(window: WindowInfo) {
  const { center, width, source, preset } = window;
  return { center, width, source, preset: preset ?? null, description: windowWords(window) };
}
