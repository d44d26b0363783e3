import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createScanPool } from '../../../src/ingest/ocr/pool.ts';
import { renderScene } from './images.ts';

/** The OCR worker pool: one worker while idle, more under a backlog (the bot) or for a `prepare` batch. */
describe('OCR worker pool', () => {
  let withText: Buffer;
  let pool: ReturnType<typeof createScanPool> | undefined;

  beforeAll(async () => {
    withText = await renderScene(384, 384, [{ text: 'DOE^JOHN 1957', x: 12, y: 24, size: 18 }]);
  });

  afterEach(async () => {
    await pool?.close();
    pool = undefined;
  });

  it('one scan at a time runs on a single worker', async () => {
    pool = createScanPool({ burst: 2 });
    for (let i = 0; i < 2; i += 1) {
      expect(await pool.run(withText, 'redact', 30_000)).toMatchObject({ ok: true, found: true });
    }
    expect(pool.alive).toBe(1);
  });

  it('under a backlog grows up to its burst, then shrinks back to one once idle', async () => {
    pool = createScanPool({ burst: 2 });
    const scans = [1, 2, 3].map(() => pool!.run(withText, 'redact', 30_000));
    expect(pool.alive).toBe(2);
    for (const reply of await Promise.all(scans)) expect(reply).toMatchObject({ ok: true, found: true });
    expect(pool.alive).toBe(1);
  });

  it('with a burst of one, a backlog waits for the single worker', async () => {
    pool = createScanPool({ burst: 1 });
    const replies = await Promise.all([1, 2, 3].map(() => pool!.run(withText, 'redact', 30_000)));
    for (const reply of replies) expect(reply).toMatchObject({ ok: true, found: true });
    expect(pool.alive).toBe(1);
  });

  it('resized, spreads a batch over that many workers, and shrinks back once they are idle', async () => {
    pool = createScanPool({ burst: 1 });
    pool.resize(2);
    const replies = await Promise.all([1, 2, 3, 4].map(() => pool!.run(withText, 'redact', 30_000)));
    for (const reply of replies) {
      expect(reply).toMatchObject({ ok: true, found: true });
      if (reply.ok) expect(reply.report.redacted).toBeGreaterThanOrEqual(1);
    }
    expect(pool.alive).toBe(2);
    pool.resize(1);
    expect(pool.alive).toBe(1);
  });

  it('shrunk while busy, stops the extra worker once its scans are done, and they still succeed', async () => {
    pool = createScanPool({ burst: 1 });
    pool.resize(2);
    const scans = [1, 2].map(() => pool!.run(withText, 'redact', 30_000));
    expect(pool.alive).toBe(2);
    pool.resize(1);
    expect(pool.alive).toBe(2); // both busy: nothing is cut off mid-scan
    for (const reply of await Promise.all(scans)) expect(reply).toMatchObject({ ok: true, found: true });
    expect(pool.alive).toBe(1);
  });
});
