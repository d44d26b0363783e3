import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  applyTable,
  calibrationDir,
  fitIsotonic,
  fitPlatt,
  fitTable,
  type LabelledCase,
  loadTables,
  saveTable,
  tableFileName,
} from '../../../src/engine/confidence/calibration.ts';
import { blankPng, mapLimit, probeConfidence, yesProbability } from '../../../src/engine/confidence/probe.ts';

const lp = (token: string, p: number) => ({ token, logprob: Math.log(p) });

describe('yes/no probe normalisation', () => {
  it('sums every spelling of yes and no and ignores other tokens', () => {
    const top = [
      lp('Yes', 0.5),
      lp(' yes', 0.1),
      lp('ĠYES', 0.05),
      lp('No', 0.1),
      lp('no.', 0.05),
      lp('The', 0.2),
    ];
    expect(yesProbability(top)).toBeCloseTo(0.65 / 0.8, 10);
  });

  it('reads Chinese answers (是/有 against 否/没有/不)', () => {
    expect(
      yesProbability([lp('是', 0.3), lp('有', 0.1), lp('否', 0.2), lp('没有', 0.1), lp('不', 0.1)]),
    ).toBeCloseTo(0.4 / 0.8, 10);
  });

  it('gives nothing when no yes/no token is in the top list', () => {
    expect(yesProbability([lp('The', 0.5), lp('I', 0.3)])).toBeUndefined();
    expect(yesProbability([])).toBeUndefined();
  });

  it('marks a finding not image-grounded when the blank image convinces the model as much', () => {
    expect(probeConfidence({ real: 0.9, blank: 0.2 })).toMatchObject({ value: 0.9, grounded: true });
    expect(probeConfidence({ real: 0.9, blank: 0.85 })).toMatchObject({ grounded: false });
    expect(probeConfidence({ real: 0.9, blank: undefined })).not.toHaveProperty('grounded');
    expect(probeConfidence({ real: undefined, blank: 0.1 })).toBeUndefined();
  });

  it('makes a blank PNG of the same size whose pixels are all equal', async () => {
    const png = await blankPng(96, 64, 1);
    const meta = await sharp(png).metadata();
    expect([meta.width, meta.height, meta.channels]).toEqual([96, 64, 1]);
    const stats = await sharp(png).stats();
    expect(stats.channels.every((c) => c.min === c.max)).toBe(true);
  });

  it('runs at most `limit` tasks at once and keeps order', async () => {
    let running = 0;
    let peak = 0;
    const out = await mapLimit([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      return n * 2;
    });
    expect(out).toEqual([2, 4, 6, 8, 10, 12, 14]);
    expect(peak).toBe(3);
  });
});

/** Deterministic overconfident scores: the true frequency is raw², so raw overstates. */
function overconfident(n: number): LabelledCase[] {
  const cases: LabelledCase[] = [];
  for (let i = 0; i < n; i++) {
    const raw = 0.05 + (0.9 * i) / (n - 1);
    const hash = ((i * 2654435761) % 1000) / 1000;
    cases.push({ raw, label: hash < raw * raw ? 1 : 0 });
  }
  return cases;
}

describe('calibration', () => {
  it('Platt scaling lowers an overconfident score and improves the Brier score', () => {
    const cases = overconfident(150);
    const platt = fitPlatt(cases);
    const table = fitTable(cases, { model: 'm', promptVersion: 'p@1', source: 'probe-logprob' });
    expect(table.method).toBe('platt');
    expect(table.brierAfter).toBeLessThan(table.brierBefore);
    expect(applyTable(table, 0.5)).toBeLessThan(0.45);
    expect(Number.isFinite(platt.a) && Number.isFinite(platt.b)).toBe(true);
  });

  it('isotonic regression is non-decreasing and is chosen for large sets', () => {
    const cases = overconfident(400);
    const iso = fitIsotonic(cases);
    for (let i = 1; i < iso.y.length; i++) expect(iso.y[i]).toBeGreaterThanOrEqual(iso.y[i - 1]!);
    const table = fitTable(cases, { model: 'm', promptVersion: 'p@1', source: 'engine' });
    expect(table.method).toBe('isotonic');
    expect(table.brierAfter).toBeLessThan(table.brierBefore);
    expect(applyTable(table, 0.3)).toBeLessThanOrEqual(applyTable(table, 0.8));
  });

  it('is stored per model + prompt version + source and ignores foreign or broken files', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'qr-cal-'));
    try {
      const key = {
        model: 'Qwen/Qwen3-VL-8B-Instruct',
        promptVersion: 'radiologist@1',
        source: 'probe-logprob' as const,
      };
      const path = await saveTable(dataDir, fitTable(overconfident(50), key));
      expect(path).toBe(join(calibrationDir(dataDir), tableFileName(key)));
      expect((await loadTables(dataDir, key.model, key.promptVersion))['probe-logprob']).toBeDefined();
      expect(await loadTables(dataDir, key.model, 'radiologist@2')).toEqual({});
      expect(await loadTables(dataDir, 'Qwen/Qwen3-VL-2B-Instruct', key.promptVersion)).toEqual({});
      await writeFile(
        join(calibrationDir(dataDir), tableFileName({ ...key, source: 'engine' })),
        '{not json',
      );
      expect(Object.keys(await loadTables(dataDir, key.model, key.promptVersion))).toEqual(['probe-logprob']);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
