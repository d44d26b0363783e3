import type { Timers } from '../../src/core/escalation/timers.ts';

/**
 * Timers that fire only when the test says time has passed: `advance(ms)` runs every callback due
 * within `ms` of the last advance, in due order. The escalation's ten-minute waits become instant,
 * while HTTP, the store and the fakes keep running on the real event loop.
 */
export function createFakeTimers() {
  let now = 0;
  let seq = 0;
  const pending = new Map<number, { due: number; callback: () => void }>();
  const timers: Timers = {
    setTimeout(callback, ms) {
      seq += 1;
      pending.set(seq, { due: now + ms, callback });
      return seq;
    },
    clearTimeout(handle) {
      pending.delete(handle as number);
    },
  };
  return {
    timers,
    /** Delays (ms from now) of the timers still waiting. */
    waiting: () => [...pending.values()].map((entry) => entry.due - now),
    advance(ms: number): void {
      now += ms;
      const due = [...pending.entries()]
        .filter(([, entry]) => entry.due <= now)
        .sort((a, b) => a[1].due - b[1].due);
      for (const [id, entry] of due) {
        pending.delete(id);
        entry.callback();
      }
    },
  };
}
