import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabelledCase } from '../../../src/eval/cases.ts';
import { compareReports } from '../../../src/eval/compare.ts';
import { buildMetrics } from '../../../src/eval/document.ts';
import { seededRandom } from '../../../src/eval/metrics.ts';
import { renderCharts, writeReport } from '../../../src/eval/report.ts';
import type { EvalRow } from '../../../src/eval/run.ts';
import { joinCases } from '../../../src/eval/summary.ts';
import { chromiumPath, hasChromium, launchChromium } from '../console/browser.ts';

/**
 * The report folder built from in-memory reads (no engine): 40 images × 2 findings, one with a name
 * that is HTML, a comparison and urgency labels, so every chart and section is drawn.
 */
const HOSTILE = '<img src=x onerror="document.title=1">';

function fixture(shift: number) {
  const random = seededRandom(11);
  const cases: LabelledCase[] = [];
  const rows = new Map<string, EvalRow>();
  for (let i = 0; i < 40; i++) {
    const file = `img-${i}.png`;
    const present = (i % 3 === 0 ? 1 : 0) as 0 | 1;
    cases.push({
      line: 2 * i + 2,
      file,
      finding: 'nodule',
      present,
      modality: i < 20 ? 'DX' : 'CR',
      urgency: present ? 'urgent' : 'routine',
    });
    cases.push({ line: 2 * i + 3, file, finding: HOSTILE, present: (1 - present) as 0 | 1 });
    const noisy = (label: number) => Math.min(0.99, Math.max(0.01, 0.25 + shift * label + 0.5 * random()));
    rows.set(file, {
      file,
      ok: true,
      read: {
        findings: present ? [{ label: 'nodule', confidence: 0.7, source: 'probe-logprob' }] : [],
        impression: present ? 'Nodule.' : 'No acute findings.',
        urgency: i % 5 === 0 ? 'urgent' : 'routine',
      },
      probes: {
        nodule: { real: noisy(present), blank: 0.05 },
        [HOSTILE]: { real: noisy(1 - present), blank: 0.6 },
      },
      model: 'm',
      promptVersion: 'radiologist@1',
    });
  }
  return { cases, rows };
}

let dir: string;
let written: string[];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qr-eval-report-'));
  const mine = fixture(0.4);
  const theirs = fixture(0.1);
  const compare = compareReports(
    joinCases(mine.cases, mine.rows).scored,
    joinCases(theirs.cases, theirs.rows).scored,
    { model: 'other-model', promptVersion: 'radiologist@0' },
    { seed: 1, resamples: 300 },
  );
  const { metrics, scored } = buildMetrics({
    ...mine,
    problems: [{ line: 7, message: `unknown column "${HOSTILE}" is ignored` }],
    engine: 'openai',
    model: 'Qwen/Qwen3-VL-8B-Instruct',
    promptVersion: 'radiologist@1',
    compare,
  });
  const charts = await renderCharts(metrics, {
    label: 'other-model · radiologist@0',
    scored: joinCases(theirs.cases, theirs.rows).scored,
    mine: scored,
  });
  written = await writeReport(dir, metrics, charts);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('eval report folder', () => {
  it('writes every chart as a non-empty PNG', async () => {
    const pngs = (await readdir(join(dir, 'charts'))).filter((name) => name.endsWith('.png')).sort();
    expect(pngs).toEqual(['compare-roc.png', 'confusion.png', 'reliability.png', 'roc.png', 'urgency.png']);
    for (const name of pngs) {
      const image = sharp(await readFile(join(dir, 'charts', name)));
      const meta = await image.metadata();
      expect(meta.format).toBe('png');
      expect(meta.width).toBeGreaterThan(200);
      expect(meta.height).toBeGreaterThan(200);
      // Something is drawn: not one flat colour.
      const stats = await image.stats();
      expect(stats.channels.some((channel) => channel.stdev > 5)).toBe(true);
    }
    expect(written).toContain('report.html');
  });

  it('escapes names from the labels in the HTML and keeps file names out of it', async () => {
    const html = await readFile(join(dir, 'report.html'), 'utf8');
    expect(html).not.toContain(HOSTILE);
    expect(html).toContain('&lt;img src=x onerror=&quot;');
    expect(html).not.toContain('img-1.png');
    expect(html).toContain('not a regulatory clearance');
    expect(html).not.toMatch(/<script/i);
  });

  if (!hasChromium) {
    it.skip(`renders in headless Chromium — skipped: ${chromiumPath} is missing (apt-get install chromium)`, () => {});
  } else {
    it('renders in headless Chromium without errors, every chart loaded', async () => {
      const browser = await launchChromium({ width: 1200, height: 900, deviceScaleFactor: 1 });
      try {
        const page = await browser.context.newPage();
        const errors: string[] = [];
        page.on('console', (message) => {
          if (message.type() === 'error' || message.type() === 'warning') errors.push(message.text());
        });
        page.on('pageerror', (error) => errors.push(String(error)));
        page.on('request', (request) => {
          if (!request.url().startsWith('file:') && !request.url().startsWith('data:')) {
            errors.push(`network request: ${request.url()}`);
          }
        });
        await page.goto(pathToFileURL(join(dir, 'report.html')).href, { waitUntil: 'load' });
        const images = await page.$$eval('img', (list) =>
          list.map((img) => ({ complete: img.complete, width: img.naturalWidth })),
        );
        expect(images).toHaveLength(5);
        for (const image of images) {
          expect(image.complete).toBe(true);
          expect(image.width).toBeGreaterThan(200);
        }
        expect(await page.title()).toContain('quickread eval');
        expect(await page.locator('h2', { hasText: 'Compared with other-model' }).count()).toBe(1);
        expect(errors).toEqual([]);
      } finally {
        await browser.close();
      }
    });
  }
});
