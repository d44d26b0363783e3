import { describe, expect, it } from 'vitest';
import { createChannelPacer } from '../../../adapters/slack/pacing.ts';

describe('slack channel pacer', () => {
  it('spaces posts in one channel, leaves other channels alone, and drops nothing', async () => {
    const pacer = createChannelPacer({ minTimeMs: 150 });
    const started: Array<{ channel: string; at: number }> = [];
    const task = (channel: string) => () => {
      started.push({ channel, at: performance.now() });
      return Promise.resolve(channel);
    };
    const results = await Promise.all([
      pacer.schedule('C1', task('C1')),
      pacer.schedule('C1', task('C1')),
      pacer.schedule('C1', task('C1')),
      pacer.schedule('C2', task('C2')),
    ]);
    expect(results).toEqual(['C1', 'C1', 'C1', 'C2']);
    const c1 = started.filter((s) => s.channel === 'C1').map((s) => s.at);
    // Bottleneck spaces the launches it plans; a busy event loop can run one planned start late and the next
    // on time, so each measured gap may be shorter than minTime by that delay — the span of three cannot.
    expect(c1[1]! - c1[0]!).toBeGreaterThanOrEqual(75);
    expect(c1[2]! - c1[1]!).toBeGreaterThanOrEqual(75);
    expect(c1[2]! - c1[0]!).toBeGreaterThanOrEqual(2 * 150 - 40);
    // C2 did not wait behind C1's queue.
    expect(started.find((s) => s.channel === 'C2')!.at).toBeLessThan(c1[1]!);
    await pacer.stop();
    await expect(pacer.schedule('C1', task('C1'))).rejects.toThrow(/stopped/);
  });

  it('flushes queued posts on stop', async () => {
    const pacer = createChannelPacer({ minTimeMs: 100 });
    const done: number[] = [];
    const pending = [1, 2, 3].map((n) => pacer.schedule('C1', async () => done.push(n)));
    await pacer.stop();
    await Promise.all(pending);
    expect(done).toEqual([1, 2, 3]);
  });
});
