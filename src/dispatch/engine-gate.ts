import type { EventEmitter } from 'node:events';
import type { Engine } from '../core/types.ts';
import type { Logger } from '../log.ts';

/**
 * Whether work may be sent to the engine now. Closed while the engine is unreachable (health is
 * polled with exponential backoff, and the gate reopens by itself) and until a server-given
 * Retry-After has passed. No job fails because the GPU server restarts: it waits here.
 */
export interface EngineGate {
  readonly up: boolean;
  /** Up and not inside a Retry-After pause. */
  open(): boolean;
  /** The engine answered ENGINE_UNAVAILABLE: close and poll health until it is back. */
  down(): void;
  /** The engine answered ENGINE_RATE_LIMITED: send nothing for `seconds`. */
  pause(seconds: number): void;
  stop(): void;
}

export function createEngineGate(deps: {
  engine: Engine;
  logger: Logger;
  events: EventEmitter;
  clock: () => number;
  poll: { min: number; max: number };
  /** Called whenever the gate opens again. */
  onOpen: () => void;
}): EngineGate {
  const { clock } = deps;
  let up = true;
  let stopped = false;
  let pausedUntil = 0;
  let healthTimer: NodeJS.Timeout | undefined;
  let pauseTimer: NodeJS.Timeout | undefined;

  function pollHealth(delayMs: number): void {
    if (stopped) return;
    healthTimer = setTimeout(async () => {
      const health = await deps.engine.health().catch(() => ({ ok: false }));
      if (stopped) return;
      if (!health.ok) return pollHealth(Math.min(delayMs * 2, deps.poll.max));
      up = true;
      deps.logger.info('engine back; resuming');
      deps.events.emit('engine', { up: true });
      deps.onOpen();
    }, delayMs);
  }

  /** Timers may fire a little early against the clock: wait until the pause has really passed. */
  function resumeAfterPause(): void {
    clearTimeout(pauseTimer);
    pauseTimer = setTimeout(
      () => (clock() < pausedUntil ? resumeAfterPause() : deps.onOpen()),
      Math.max(1, pausedUntil - clock() + 1),
    );
  }

  return {
    get up() {
      return up;
    },
    open: () => up && !stopped && clock() >= pausedUntil,
    down() {
      if (!up || stopped) return;
      up = false;
      deps.logger.warn('engine unavailable; jobs wait and health is polled');
      deps.events.emit('engine', { up: false });
      pollHealth(deps.poll.min);
    },
    pause(seconds) {
      pausedUntil = Math.max(pausedUntil, clock() + seconds * 1000);
      resumeAfterPause();
    },
    stop() {
      stopped = true;
      clearTimeout(healthTimer);
      clearTimeout(pauseTimer);
    },
  };
}
