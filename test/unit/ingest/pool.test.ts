import { afterEach, describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.ts';
import { createDecodePool, type DecodePool } from '../../../src/ingest/worker/pool.ts';

const entry = new URL('./echo-worker.mjs', import.meta.url);
let pool: DecodePool | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

describe('decode worker pool', () => {
  it('reuses workers and never starts more than its size', async () => {
    pool = createDecodePool({ size: 2, entry });
    const values = await Promise.all(
      [1, 2, 3, 4, 5].map((value) => pool!.run<number>({ value, delayMs: 20 }, 5000)),
    );
    expect(values).toEqual([1, 2, 3, 4, 5]);
    expect(pool.alive).toBe(2);
  });

  it('turns a coded failure from the worker back into the same AppError', async () => {
    pool = createDecodePool({ size: 1, entry });
    const error = await pool.run({ mode: 'fail' }, 5000).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: 'INPUT_CORRUPT', userMessage: 'damaged' });
  });

  it('survives a crashing worker: that task fails with a code, the next one runs', async () => {
    pool = createDecodePool({ size: 1, entry });
    await expect(pool.run({ mode: 'crash' }, 5000)).rejects.toMatchObject({ code: 'INPUT_CORRUPT' });
    await expect(pool.run<number>({ value: 7 }, 5000)).resolves.toBe(7);
  });

  it('terminates a worker stuck in a loop at the time cap, and queued work still runs', async () => {
    pool = createDecodePool({ size: 1, entry });
    const stuck = pool.run({ mode: 'spin' }, 150);
    const queued = pool.run<number>({ value: 9 }, 5000);
    await expect(stuck).rejects.toMatchObject({ code: 'DECODE_TIMEOUT' });
    await expect(queued).resolves.toBe(9);
  });

  it('refuses work after close', async () => {
    const closed = createDecodePool({ size: 1, entry });
    await closed.close();
    await expect(closed.run({ value: 1 }, 1000)).rejects.toBeInstanceOf(AppError);
  });

  it('with an inline lane, runs a lone job on this thread without starting a worker', async () => {
    pool = createDecodePool({
      size: 1,
      entry,
      inline: async (task) => `inline:${(task as { value: number }).value}`,
    });
    await expect(pool.run<string>({ value: 1 }, 5000)).resolves.toBe('inline:1');
    expect(pool.alive).toBe(0);
  });

  it('runs up to inlineConcurrency inline jobs at once (decode one while the last one encodes)', async () => {
    let running = 0;
    let peak = 0;
    const inline = async (task: object) => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, 30));
      running -= 1;
      return (task as { value: number }).value;
    };
    for (const [inlineConcurrency, expected] of [
      [1, 1],
      [2, 2],
    ] as const) {
      peak = 0;
      pool = createDecodePool({ size: 1, entry, inline, inlineConcurrency });
      const values = await Promise.all([1, 2, 3].map((value) => pool!.run<number>({ value }, 5000)));
      expect(values).toEqual([1, 2, 3]);
      expect(peak).toBe(expected);
      await pool.close();
    }
  });

  it('with an inline lane, hands work to a worker once it has started, and keeps results in place', async () => {
    const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    pool = createDecodePool({
      size: 1,
      entry,
      inline: async (task) => {
        await delay(60);
        return `inline:${(task as { value: number }).value}`;
      },
    });
    const values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    const results = await Promise.all(
      values.map((value) => pool!.run<number | string>({ value, delayMs: 60 }, 10_000)),
    );
    expect(results.map((result) => Number(String(result).replace('inline:', '')))).toEqual(values);
    expect(results.some((result) => typeof result === 'number')).toBe(true);
    expect(results.some((result) => typeof result === 'string')).toBe(true);
  });

  it('turns an inline failure into an AppError', async () => {
    pool = createDecodePool({
      size: 0,
      entry,
      inline: async () => {
        throw new Error('codec exploded');
      },
    });
    const error = await pool.run({}, 5000).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('INPUT_CORRUPT');
  });
});
