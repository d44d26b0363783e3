import { describe, expect, it } from 'vitest';
import {
  confidenceBand,
  confidenceExplanation,
  confidenceText,
  windowWords,
} from '../../../src/core/wording.ts';

describe('words a clinician reads at a glance (issue 18)', () => {
  it('puts a band before the number and names where the number came from', () => {
    expect(confidenceBand(0.39)).toBe('low');
    expect(confidenceBand(0.4)).toBe('moderate');
    expect(confidenceBand(0.69)).toBe('moderate');
    expect(confidenceBand(0.7)).toBe('high');
    expect(confidenceText(0.87, 'probe-logprob', false)).toBe(
      'high (87%) · model probability · not calibrated',
    );
    expect(confidenceText(0.42, 'model-stated', false)).toBe(
      'moderate (42%) · the model’s own estimate · not calibrated',
    );
    expect(confidenceText(0.2, 'probe-logprob', true)).toMatch(
      /^low \(20%\) · .* · calibrated on local cases$/,
    );
  });

  it('explains an uncalibrated number without overstating it', () => {
    expect(confidenceExplanation('probe-logprob', false)).toMatch(/not been calibrated.*80% does not mean/);
    expect(confidenceExplanation('probe-logprob', true)).toMatch(/calibrated against confirmed local cases/);
  });

  it('says which window the model saw, and why', () => {
    expect(windowWords({ center: -600, width: 1500, source: 'preset', preset: 'lung' })).toBe(
      'lung window, chosen from the question (C -600, W 1500)',
    );
    expect(windowWords({ center: 40, width: 400, source: 'dataset' })).toBe(
      "the file's own window (C 40, W 400)",
    );
    expect(windowWords({ center: 127.5, width: 256, source: 'none' })).toBe('shown as stored (no windowing)');
    expect(windowWords({ center: 1200.4, width: 2300.6, source: 'percentile' })).toMatch(
      /^automatic window .*\(C 1200, W 2301\)$/,
    );
  });
});
