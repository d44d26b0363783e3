import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type BatchRow,
  isFinished,
  loadCheckpoint,
  openCheckpoint,
  summaryCsv,
  summaryMarkdown,
} from '../../../src/commands/batch-report.ts';

const row = (over: Partial<BatchRow>): BatchRow => ({
  file: 'a.png',
  ok: true,
  findings: [],
  impression: 'Normal.',
  urgency: 'routine',
  model: 'm',
  ...over,
});

describe('batch checkpoint and summaries', () => {
  it('cuts a half-written last line so appends after a crash stay parseable', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qr-report-'));
    const path = join(dir, 'results.jsonl');
    await writeFile(
      path,
      `${JSON.stringify(row({ file: 'a.png' }))}\n${JSON.stringify(row({ file: 'b.png' })).slice(0, 20)}`,
    );
    const rows = await loadCheckpoint(path);
    expect([...rows.keys()]).toEqual(['a.png']);
    const writer = await openCheckpoint(path);
    await writer.append(row({ file: 'b.png', frame: 2, frames: 3 }));
    await writer.close();
    const again = await loadCheckpoint(path);
    expect([...again.keys()]).toEqual(['a.png', 'b.png#2']);
    expect((await readFile(path, 'utf8')).split('\n').filter(Boolean)).toHaveLength(2);
    await rm(dir, { recursive: true, force: true });
  });

  it('redoes failures that were not the image’s fault', () => {
    expect(isFinished(row({}))).toBe(true);
    expect(isFinished(row({ ok: false, error: { code: 'INPUT_CORRUPT', message: '' } }))).toBe(true);
    expect(isFinished(row({ ok: false, error: { code: 'PHI_PRESENT', message: '' } }))).toBe(true);
    expect(isFinished(row({ ok: false, error: { code: 'ENGINE_TIMEOUT', message: '' } }))).toBe(false);
    expect(isFinished(row({ ok: false, error: { code: 'MODEL_OUTPUT_INVALID', message: '' } }))).toBe(false);
    expect(isFinished(row({ ok: false, error: { code: 'INTERNAL', message: '' } }))).toBe(false);
  });

  it('quotes CSV per RFC 4180, defuses spreadsheet formulas and keeps markdown tables intact', () => {
    const rows = [
      row({
        file: 'x,y.png',
        impression: '=HYPERLINK("http://evil") | "quoted"\nnext',
        findings: [
          {
            label: 'nodule',
            location: 'RUL',
            confidence: { value: 0.87, source: 'probe-logprob', calibrated: true },
          },
        ],
      }),
      row({
        file: 'b.png',
        ok: false,
        impression: null,
        urgency: null,
        error: { code: 'INPUT_CORRUPT', message: 'Damaged.' },
      }),
    ];
    const csv = summaryCsv(rows).split('\r\n');
    expect(csv[1]).toContain('"x,y.png"');
    expect(csv[1]).toContain(`"'=HYPERLINK(""http://evil"") | ""quoted""\nnext"`);
    // Issue 18: band first, % second, and the source of the number in words.
    expect(csv[1]).toContain('nodule (RUL): high (87%)');
    expect(csv[1]).toContain('0.87');
    expect(csv[1]).toContain('model probability · calibrated on local cases');
    expect(summaryCsv(rows)).toContain('b.png,,false,,,,,m,INPUT_CORRUPT,Damaged.');
    const md = summaryMarkdown(rows, 't');
    expect(md).toContain('2 images: 🔴 0 critical, 🟠 0 urgent, 🟢 1 routine, 1 failed.');
    expect(md).toContain('\\| "quoted" next');
    expect(md).toContain('| 2 | b.png | failed | Damaged. (INPUT_CORRUPT) | |');
    expect(md).toMatch(/^Confidence: band .* model probability · calibrated on local cases$/m);
  });
});
