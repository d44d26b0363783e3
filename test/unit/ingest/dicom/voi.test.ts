import { describe, expect, it } from 'vitest';
import {
  applyWindow,
  chooseWindow,
  percentileRange,
  presetFromQuestion,
} from '../../../../src/ingest/voi.js';

describe('presetFromQuestion', () => {
  it.each([
    ['Any lung nodules?', 'lung'],
    ['is there a pneumothorax', 'lung'],
    ['Intracranial haemorrhage?', 'brain'],
    ['rib fracture on the left?', 'bone'],
    ['Aortic dissection?', 'mediastinum'],
    ['liver lesion', 'soft-tissue'],
    ['show me the mediastinal window on this lung CT', 'mediastinum'],
  ])('%s → %s', (question, preset) => {
    expect(presetFromQuestion(question)).toBe(preset);
  });

  it('names no preset for a question about nothing in particular', () => {
    expect(presetFromQuestion('what do you see?')).toBeUndefined();
  });
});

describe('chooseWindow', () => {
  const values = Float64Array.from({ length: 1000 }, (_, i) => i);

  it('prefers an explicit user window over everything', () => {
    const w = chooseWindow(values, {
      choice: { center: 10, width: 20 },
      dataset: { center: 40, width: 400 },
      question: 'lung?',
      modality: 'CT',
    });
    expect(w).toMatchObject({ center: 10, width: 20, source: 'user' });
  });

  it('honours a named preset the user asked for', () => {
    expect(chooseWindow(values, { choice: 'bone', dataset: { center: 1, width: 2 } })).toMatchObject({
      center: 400,
      width: 1800,
      source: 'user',
      preset: 'bone',
    });
  });

  it("puts a CT preset named in the question before the dataset's window (the clinician's intent first)", () => {
    const w = chooseWindow(values, {
      dataset: { center: 40, width: 400 },
      question: 'lung window: any nodule?',
      modality: 'CT',
    });
    expect(w).toMatchObject({ center: -600, width: 1500, source: 'preset', preset: 'lung' });
  });

  it("keeps the dataset's window when the question names no preset, and for non-CT", () => {
    const dataset = { center: 40, width: 400 };
    expect(chooseWindow(values, { dataset, question: 'what do you see?', modality: 'CT' })).toMatchObject({
      ...dataset,
      source: 'dataset',
    });
    expect(chooseWindow(values, { dataset, question: 'lung window?', modality: 'MR' })).toMatchObject({
      ...dataset,
      source: 'dataset',
    });
  });

  it('picks a CT preset from the question when the file has no window', () => {
    const w = chooseWindow(values, { question: 'lung nodules?', modality: 'CT' });
    expect(w).toMatchObject({ center: -600, width: 1500, source: 'preset', preset: 'lung' });
  });

  it('offers no Hounsfield preset for a modality that is not CT', () => {
    expect(chooseWindow(values, { question: 'lung nodules?', modality: 'MR' }).source).toBe('percentile');
  });

  it('falls back to a robust percentile window that ignores a few outliers', () => {
    const data = new Float64Array(10_000).fill(100);
    for (let i = 0; i < 10_000; i++) data[i] = i % 1000;
    data[0] = -30_000;
    data[1] = 60_000;
    const w = chooseWindow(data, {});
    expect(w.source).toBe('percentile');
    const [lo, hi] = percentileRange(data, 0.005, 0.995);
    expect(lo).toBeGreaterThan(-10);
    expect(hi).toBeLessThan(1000);
    expect(w.center).toBeCloseTo((lo + hi) / 2);
  });
});

describe('applyWindow (PS3.3 C.11.2.1.2.1)', () => {
  const window = { center: 40, width: 400, source: 'dataset' as const, reason: 'test' };

  it('maps the linear function with clipping at both ends', () => {
    const out = applyWindow([-1000, -160, 39.5, 240, 1000], window, false);
    expect(Array.from(out)).toEqual([0, 0, 128, 255, 255]);
    // Midpoint of the window is mid-grey; values are monotonic in between.
    const ramp = applyWindow(
      Float64Array.from({ length: 401 }, (_, i) => -160 + i),
      window,
      false,
    );
    for (let i = 1; i < ramp.length; i++) expect(ramp[i]!).toBeGreaterThanOrEqual(ramp[i - 1]!);
  });

  it('inverts for MONOCHROME1', () => {
    const plain = applyWindow([-1000, 40, 1000], window, false);
    const inverted = applyWindow([-1000, 40, 1000], window, true);
    expect(Array.from(inverted)).toEqual(Array.from(plain).map((v) => 255 - v));
  });

  it('supports SIGMOID and LINEAR_EXACT (C.11.2.1.3)', () => {
    const sigmoid = applyWindow([-1e6, 40, 440, 1e6], window, false, 'SIGMOID');
    expect(Array.from(sigmoid)).toEqual([0, 128, Math.round(255 / (1 + Math.exp(-4))), 255]);
    const exact = applyWindow([-160, 40, 240, 241], window, false, 'LINEAR_EXACT');
    expect(Array.from(exact)).toEqual([0, 128, 255, 255]);
  });

  it('treats width 1 as a threshold', () => {
    const out = applyWindow([9, 10, 11], { center: 10.5, width: 1, source: 'user', reason: 't' }, false);
    expect(Array.from(out)).toEqual([0, 0, 255]);
  });
});
