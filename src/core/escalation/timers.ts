/**
 * The timers the escalation chain waits on, injectable so tests drive a fake clock instead of waiting
 * ten real minutes. Real timers are unref'd: a pending page never keeps a stopping process alive —
 * it is stored, and the next start resumes it (escalation/index.ts).
 */
export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout(callback, ms) {
    const handle = setTimeout(callback, ms);
    handle.unref();
    return handle;
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};
