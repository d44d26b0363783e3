import type { EventEmitter } from 'node:events';
import { AppError } from '../errors.ts';

/**
 * How long an API request waits for a model server that is down (issue 16). Chat requests wait in the
 * queue for as long as it takes, because the user is told and the answer lands in the thread later; an
 * HTTP caller holds a connection open, and many clients have no timeout at all. So while the engine is
 * down, a request gets at most API_WAIT_S, then 503 with Retry-After (RFC 9110 §15.6.4) and a coded
 * body. The clock runs only while the engine is down: a request queued behind healthy work is not cut.
 */
export interface EngineWatch {
  /** Rejects when the engine has been down for the whole allowance; never resolves. */
  expired: Promise<never>;
  stop(): void;
}

export function watchEngineDown(
  source: { events: EventEmitter; stats(): { engineUp: boolean } },
  waitS: number,
  retryAfterSec: () => number,
): EngineWatch {
  let timer: NodeJS.Timeout | undefined;
  let fail: (error: AppError) => void = () => undefined;
  const expired = new Promise<never>((_, reject) => {
    fail = reject;
  });
  // Nobody may be listening when it is stopped: an unobserved rejection must not crash the process.
  expired.catch(() => undefined);

  const start = () => {
    timer ??= setTimeout(() => {
      fail(
        new AppError('ENGINE_UNAVAILABLE', `engine down for ${waitS} s while an API request waited`, {
          retryAfterSec: Math.max(1, retryAfterSec()),
          userMessage: `The model server is unavailable; quickread waited ${waitS} s for it. Try again after the Retry-After delay.`,
          details: { waitedS: waitS },
        }),
      );
    }, waitS * 1000);
  };
  const onEngine = (event: { up: boolean }) => {
    if (event.up) {
      clearTimeout(timer);
      timer = undefined;
    } else start();
  };
  source.events.on('engine', onEngine);
  if (!source.stats().engineUp) start();
  return {
    expired,
    stop() {
      clearTimeout(timer);
      source.events.off('engine', onEngine);
    },
  };
}
