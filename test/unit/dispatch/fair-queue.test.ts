import { describe, expect, it } from 'vitest';
import { createFairQueue, type QueueItem } from '../../../src/dispatch/fair-queue.ts';

/** Jain's fairness index: 1 when every channel got the same share, 1/n when one got all. */
const jain = (shares: number[]): number =>
  shares.reduce((a, b) => a + b, 0) ** 2 / (shares.length * shares.reduce((a, b) => a + b * b, 0));

function harness(agingMs = 60_000) {
  let now = 0;
  let seq = 0;
  const queue = createFairQueue<QueueItem>({ clock: () => now, agingMs });
  const add = (channelId: string, priority = 0, id = `${channelId}-${seq}`) => {
    const item = { id, channelId, priority, enqueuedAt: now, seq: seq++ };
    queue.push(item);
    return item;
  };
  return {
    queue,
    add,
    advance: (ms: number) => {
      now += ms;
    },
    now: () => now,
  };
}

describe('fair queue (fake clock)', () => {
  it('serves backlogged channels round-robin: a flooding channel cannot starve the others', () => {
    const { queue, add, advance } = harness();
    for (let i = 0; i < 300; i += 1) add('flood');
    for (const channel of ['ed', 'icu', 'ward']) for (let i = 0; i < 30; i += 1) add(channel);
    const served: Record<string, number> = { flood: 0, ed: 0, icu: 0, ward: 0 };
    for (let i = 0; i < 100; i += 1) {
      served[queue.pickNext()!.channelId]! += 1;
      advance(1000);
    }
    expect(jain(Object.values(served))).toBeGreaterThanOrEqual(0.99);
    expect(Math.min(...Object.values(served))).toBeGreaterThanOrEqual(24);
    // Arrival order (what a plain FIFO would do) gives the flood everything.
    expect(jain([100, 0, 0, 0])).toBeCloseTo(0.25);
  });

  it('sends STAT work first, across channels and ahead of routine work in its own channel', () => {
    const { queue, add } = harness();
    for (let i = 0; i < 5; i += 1) add('ward');
    for (let i = 0; i < 5; i += 1) add('ed');
    const statElsewhere = add('stat-room', 10);
    const statInWard = add('ward', 10);
    const first = [queue.pickNext()!.id, queue.pickNext()!.id].sort();
    expect(first).toEqual([statElsewhere.id, statInWard.id].sort());
    expect(queue.pickNext()!.priority).toBe(0);
  });

  it('ages routine work into the STAT class, so a stream of STAT requests never starves it', () => {
    const agingMs = 60_000;
    const { queue, add, advance, now } = harness(agingMs);
    const routine = add('ward');
    const enqueued = now();
    let servedAt: number | undefined;
    // A STAT request arrives every 5 s and each read takes 5 s: STAT alone would fill the GPU forever.
    add('ed', 10);
    for (let step = 0; step < 100 && servedAt === undefined; step += 1) {
      const next = queue.pickNext()!;
      if (next.id === routine.id) servedAt = now();
      advance(5000);
      add('ed', 10);
    }
    expect(servedAt).toBeDefined();
    const waited = servedAt! - enqueued;
    expect(waited).toBeGreaterThanOrEqual(agingMs);
    expect(waited).toBeLessThanOrEqual(agingMs + 2 * 5000);
  });

  it('predicts the service order it will follow (for "you are #k")', () => {
    const { queue, add } = harness();
    for (let i = 0; i < 6; i += 1) add('a');
    for (let i = 0; i < 2; i += 1) add('b');
    add('c', 10);
    const ranks = queue.ranks();
    const order: string[] = [];
    while (queue.size > 0) order.push(queue.pickNext()!.id);
    expect(order.map((id) => ranks.get(id))).toEqual(order.map((_, index) => index + 1));
  });

  it('puts a re-queued or resumed item back in its place by age', () => {
    const { queue, add } = harness();
    const first = add('a');
    add('a');
    const picked = queue.pickNext()!;
    expect(picked).toBe(first);
    queue.push(picked);
    expect(queue.pickNext()).toBe(first);
    expect(queue.remove('nope')).toBeUndefined();
  });
});
