import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EvalCliOptions, runEval } from '../../../src/commands/eval.ts';
import { reportError } from '../../../src/commands/output.ts';
import { loadConfig } from '../../../src/config.ts';
import { loadTables } from '../../../src/engine/confidence/calibration.ts';
import { PROMPT_VERSION } from '../../../src/engine/index.ts';
import type { EvalMetrics } from '../../../src/eval/document.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../../fakes/openai-server.ts';
import { runCliCaptured } from '../../helpers/run-cli.ts';
import {
  CASES,
  captureStream,
  caseImage,
  labelsCsv,
  NODULE_AUROC,
  probeByBrightness,
  probeByWidth,
} from './cases.ts';

const MODEL_A = 'Qwen/Qwen3-VL-8B-Instruct';
const MODEL_B = 'Qwen/Qwen3-VL-4B-Instruct';

let dir: string;
let fakeA: FakeOpenAI;
let fakeB: FakeOpenAI;

async function evaluate(fake: FakeOpenAI, model: string, options: Partial<EvalCliOptions>) {
  const config = loadConfig({
    ENGINE_URL: fake.url,
    ENGINE_MODEL: model,
    DATA_DIR: join(dir, 'data'),
    LOG_LEVEL: 'silent',
    ENGINE_CONCURRENCY: '2',
  });
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (line: string) => out.push(line), err: (line: string) => err.push(line) };
  const progress = captureStream();
  const code = await runEval(
    config,
    io,
    { labels: join(dir, 'cases', 'labels.csv'), ...options },
    { progress: progress.stream },
  ).catch((error: unknown) => reportError(error, io));
  return { code, out: out.join('\n'), err: err.join('\n'), progress: progress.text() };
}

const metricsOf = async (out: string) =>
  JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')) as EvalMetrics;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qr-eval-'));
  await mkdir(join(dir, 'cases'));
  for (const c of CASES) await writeFile(join(dir, 'cases', c.name), await caseImage(c));
  await writeFile(join(dir, 'cases', 'labels.csv'), labelsCsv());
  fakeA = await startFakeOpenAI({ model: MODEL_A, probeYesFor: probeByBrightness });
  fakeB = await startFakeOpenAI({ model: MODEL_B, probeYesFor: probeByWidth });
});

afterAll(async () => {
  await fakeA?.close();
  await fakeB?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('quickread eval against a fake engine whose probe depends on the image', () => {
  it('measures AUROC, sensitivity, specificity and the read hit rate to the values worked out by hand', async () => {
    const out = join(dir, 'report-a');
    const run = await evaluate(fakeA, MODEL_A, { out, writeCalibration: true });
    expect(run.err).not.toContain('labels line');
    expect(run.code).toBe(0);
    const metrics = await metricsOf(out);
    expect(metrics.model).toBe(MODEL_A);
    // Nothing was installed before this run: raw P(yes), which --write-calibration then fits.
    expect(metrics.calibration).toBeNull();
    expect(metrics.images).toEqual({ total: 10, read: 10, failed: 0, failedBy: {} });
    expect(metrics.cases).toMatchObject({ total: 20, scored: 20, scoredByProbe: 20, scoredByRead: 0 });
    const nodule = metrics.findings.nodule!;
    expect(nodule.auroc!.toFixed(2)).toBe(NODULE_AUROC.toFixed(2));
    expect(metrics.findings.effusion!.auroc!.toFixed(2)).toBe('0.50');
    // P(yes) ≥ 0.5 calls grey ≥ 128: positives 200 and 180 (2 of 5), negative 150 (1 of 5).
    expect(nodule.sensitivity).toBeCloseTo(0.4, 10);
    expect(nodule.specificity).toBeCloseTo(0.8, 10);
    expect(nodule.prevalence).toBe(0.5);
    expect(nodule.aurocCI![0]).toBeLessThan(nodule.auroc!);
    expect(nodule.aurocCI![1]).toBeGreaterThan(nodule.auroc!);
    // Blank-image probes answer 0.05, so every Yes is image-grounded.
    expect(nodule.groundingRate).toBe(1);
    // The fake's read lists "Pulmonary nodule" on every image: a hit on positives, a false mention on negatives.
    expect(nodule.readHitRate).toBe(1);
    expect(nodule.readFalseMentionRate).toBe(1);
    expect(metrics.modalities.DX!.n).toBe(20);
    expect(Object.keys(metrics.splits)).toEqual(['test']);
    // Urgency: p200 is labelled urgent, the fake reads everything as routine.
    expect(metrics.urgency!.matrix).toEqual([
      [9, 0, 0],
      [1, 0, 0],
      [0, 0, 0],
    ]);
    // One read per image (which probes its own finding, "Pulmonary nodule") and two probes (image +
    // blank) per labelled finding.
    expect(fakeA.requests.filter((r) => r.kind === 'read')).toHaveLength(10);
    const labelledProbes = fakeA.requests.filter(
      (r) => r.kind === 'probe' && !JSON.stringify(r.body).includes('Pulmonary nodule'),
    );
    expect(labelledProbes).toHaveLength(40);
    const csv = await readFile(join(out, 'metrics.csv'), 'utf8');
    expect(csv.split('\r\n')[0]).toMatch(/^scope,name,n,positives,prevalence,sensitivity/);
    expect(csv).toContain(`finding,nodule,10,5,0.5000,0.4000`);
    expect(run.out).toContain('calibration: platt on 20 cases');
    const tables = await loadTables(join(dir, 'data'), MODEL_A, PROMPT_VERSION);
    expect(tables['probe-logprob']?.n).toBe(20);
    // A read by the same model and prompt version now says what its confidence was calibrated on.
    const ask = await runCliCaptured(['ask', join(dir, 'cases', 'p200.png'), 'Any nodule?'], {
      ENGINE_URL: fakeA.url,
      DATA_DIR: join(dir, 'data'),
      LOG_LEVEL: 'silent',
    });
    expect(ask.out).toMatch(/calibrated on 20 local cases/);
  });

  it('compares two models on the same cases with a paired ΔAUROC interval', async () => {
    const out = join(dir, 'report-b');
    const run = await evaluate(fakeB, MODEL_B, { out, compare: join(dir, 'report-a') });
    expect(run.code).toBe(0);
    const metrics = await metricsOf(out);
    const compare = metrics.compare!;
    expect(compare.other).toEqual({ model: MODEL_A, promptVersion: PROMPT_VERSION });
    expect(compare.matched).toBe(20);
    const nodule = compare.findings.nodule!;
    expect(nodule.auroc).toBe(1);
    expect(nodule.delta!.toFixed(2)).toBe((1 - NODULE_AUROC).toFixed(2));
    // B is perfect in every resample, so A can only be worse: the interval never crosses below 0.
    expect(nodule.deltaCI![0]).toBeGreaterThanOrEqual(0);
    expect(nodule.deltaCI![1]).toBeGreaterThan(nodule.delta!);
    const csv = (await readFile(join(out, 'compare.csv'), 'utf8')).split('\r\n');
    expect(csv[0]).toBe('name,n,auroc,other_auroc,delta_auroc,delta_lo,delta_hi');
    expect(csv).toContain(
      `nodule,10,1.0000,${NODULE_AUROC.toFixed(4)},${(1 - NODULE_AUROC).toFixed(4)},${nodule.deltaCI![0].toFixed(4)},${nodule.deltaCI![1].toFixed(4)}`,
    );
  });

  it('resumes an interrupted run without reading finished images again', async () => {
    const out = join(dir, 'report-resume');
    expect((await evaluate(fakeA, MODEL_A, { out })).code).toBe(0);
    const results = join(out, 'results.jsonl');
    const lines = (await readFile(results, 'utf8')).split('\n').filter(Boolean);
    // As if killed while writing the last image: a torn line.
    await writeFile(results, `${lines.slice(0, 7).join('\n')}\n${lines[7]!.slice(0, 30)}`);
    const again = await evaluate(fakeA, MODEL_A, { out });
    expect(again.code).toBe(2);
    const before = fakeA.requests.filter((r) => r.kind === 'read').length;
    const resumed = await evaluate(fakeA, MODEL_A, { out, resume: true });
    expect(resumed.code).toBe(0);
    expect(resumed.progress).toContain('eval: 7/10 already done');
    expect(resumed.progress).toContain('eval: 10/10 done, 0 failed');
    expect(fakeA.requests.filter((r) => r.kind === 'read').length - before).toBe(3);
    const metrics = await metricsOf(out);
    // The first test installed a Platt table: monotone, so the AUROC is the same, the scores are not.
    expect(metrics.calibration).toMatchObject({ method: 'platt', n: 20 });
    expect(metrics.findings.nodule!.auroc!.toFixed(2)).toBe(NODULE_AUROC.toFixed(2));
    expect(metrics.findings.nodule!.reliability.map((bin) => bin.meanScore)).not.toContain(200 / 255);
    const other = await evaluate(fakeB, MODEL_B, { out, resume: true });
    expect(other.code).toBe(2);
  });

  it('reports bad rows by line and evaluates the rest; an unreadable image is counted by its code', async () => {
    const labels = join(dir, 'cases', 'labels.csv');
    await writeFile(join(dir, 'cases', 'damaged.png'), Buffer.from('\x89PNG\r\n\x1a\n not really'));
    const good = labelsCsv();
    const bad = good
      .replace(
        'file,finding,present,modality,split,urgency',
        'file,finding,present,modality,split,urgency,reader',
      )
      .concat(
        'missing.png,nodule,1,DX,test,\n',
        'p200.png,nodule,0,DX,test,\n',
        'n30.png,nodule,maybe,DX,test,\n',
        'damaged.png,nodule,0,DX,test,\n',
      );
    await writeFile(labels, bad);
    try {
      const out = join(dir, 'report-bad');
      const run = await evaluate(fakeA, MODEL_A, { out });
      // Exit 1: one image could not be read (the report is still written).
      expect(run.code).toBe(1);
      expect(run.err).toContain('labels line 1: unknown column "reader"');
      expect(run.err).toContain('labels line 22: file not found');
      expect(run.err).toContain('labels line 23: duplicates line 2');
      expect(run.err).toContain('labels line 24: present must be 1 or 0');
      expect(run.err).not.toContain('missing.png');
      const metrics = await metricsOf(out);
      expect(metrics.cases).toMatchObject({ total: 21, scored: 20, unread: 1 });
      expect(metrics.images).toMatchObject({ total: 11, read: 10, failed: 1 });
      expect(Object.values(metrics.images.failedBy)).toEqual([1]);
      expect(Object.keys(metrics.images.failedBy)[0]).toMatch(/^INPUT_/);
      expect(metrics.problems.map((p) => p.line)).toEqual([1, 22, 23, 24]);
      expect(metrics.findings.nodule!.auroc!.toFixed(2)).toBe(NODULE_AUROC.toFixed(2));
    } finally {
      await writeFile(labels, good);
    }
  });

  it('probes the image the read could afford when the server ran out of memory at full size', async () => {
    const big = join(dir, 'big');
    await mkdir(big);
    const wide = await sharp({ create: { width: 640, height: 640, channels: 3, background: '#777' } })
      .composite([{ input: await caseImage(CASES[0]!), left: 100, top: 100 }])
      .png()
      .toBuffer();
    await writeFile(join(big, 'big.png'), wide);
    await writeFile(join(big, 'labels.csv'), 'file,finding,present\nbig.png,nodule,1\n');
    const fake = await startFakeOpenAI({ model: MODEL_A, probeYesFor: probeByBrightness });
    try {
      // 640² costs 400 tokens: the ladder's next step, 480² (225 tokens), fits.
      await fake.setMode('oom-above', 300);
      const run = await evaluate(fake, MODEL_A, {
        labels: join(big, 'labels.csv'),
        out: join(big, 'report'),
      });
      expect(run.code).toBe(0);
      const row = JSON.parse((await readFile(join(big, 'report', 'results.jsonl'), 'utf8')).trim());
      expect(row.ok).toBe(true);
      expect(row.probes.nodule.real).toBeGreaterThan(0);
      const labelled = fake.requests.filter(
        (r) => r.kind === 'probe' && !JSON.stringify(r.body).includes('Pulmonary nodule'),
      );
      expect(labelled.map((r) => r.image?.width)).toEqual([480, 480]);
    } finally {
      await fake.close();
    }
  });

  it("falls back to the read's own confidence on a server without log-probabilities, and says so", async () => {
    const fake = await startFakeOpenAI({ model: MODEL_A, logprobs: false });
    try {
      const out = join(dir, 'report-nologprobs');
      expect((await evaluate(fake, MODEL_A, { out })).code).toBe(0);
      const metrics = await metricsOf(out);
      expect(metrics.cases).toMatchObject({ scored: 20, scoredByProbe: 0, scoredByRead: 20 });
      // The read names "Pulmonary nodule" (stated 0.7) on every image: one score for all, AUROC 0.5.
      expect(metrics.findings.nodule!.auroc).toBe(0.5);
      expect(metrics.findings.nodule!.sensitivity).toBe(1);
      expect(await readFile(join(out, 'report.html'), 'utf8')).toContain(
        '20 case(s) had no probe log-probabilities',
      );
    } finally {
      await fake.close();
    }
  });

  it('fails at once, saying what to start, when no engine answers or it serves another model', async () => {
    const labels = join(dir, 'cases', 'labels.csv');
    const down = await runCliCaptured(['eval', '--labels', labels, '--out', join(dir, 'report-down')], {
      ENGINE_URL: 'http://127.0.0.1:9/v1',
      DATA_DIR: join(dir, 'data'),
      LOG_LEVEL: 'silent',
    });
    expect(down.code).toBe(1);
    expect(down.err).toContain('No model server answers at http://127.0.0.1:9/v1');
    expect(down.err).toContain('[ENGINE_UNAVAILABLE]');
    const other = await runCliCaptured(
      ['eval', '--labels', labels, '--out', join(dir, 'report-other'), '--model', 'not-served'],
      { ENGINE_URL: fakeA.url, DATA_DIR: join(dir, 'data'), LOG_LEVEL: 'silent' },
    );
    expect(other.code).toBe(1);
    expect(other.err).toContain('[ENGINE_MODEL_MISSING]');
    expect(other.err).toContain('--model picks another');
  });

  it('is a registered command that refuses a missing labels file with a usage error', async () => {
    const { code, err } = await runCliCaptured(['eval', '--labels', join(dir, 'nope.csv')], {
      DATA_DIR: join(dir, 'data'),
    });
    expect(code).toBe(2);
    expect(err).toContain('The labels file could not be read');
    const reads = fakeA.requests.length;
    const compare = await runCliCaptured(
      [
        'eval',
        '--labels',
        join(dir, 'cases', 'labels.csv'),
        '--out',
        join(dir, 'report-c'),
        '--compare',
        join(dir, 'nope'),
      ],
      { ENGINE_URL: fakeA.url, DATA_DIR: join(dir, 'data'), LOG_LEVEL: 'silent' },
    );
    expect(compare.code).toBe(2);
    expect(compare.err).toContain('holds no quickread eval results');
    expect(fakeA.requests.length).toBe(reads);
  });
});
