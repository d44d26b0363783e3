import type { Logger } from '../log.ts';
import type { Entry } from './entry.ts';
import type { FairQueue } from './fair-queue.ts';
import type { DispatchUpdate } from './types.ts';

/**
 * Queue places ("you are #k, about N s") for every waiting job, sent to the requester when they change:
 * the fair queue's own prediction of its service order.
 */
export function createPlaces(deps: {
  queue: FairQueue<Entry>;
  etaSec: (position: number) => number;
  isUp: () => boolean;
  isStopped: () => boolean;
  everyMs: number;
  logger: Logger;
}) {
  let publishTimer: NodeJS.Timeout | undefined;

  const positions = (): Map<string, number> => deps.queue.ranks();

  /** An update is sent when the state or the place changed; a drifting ETA alone is not news. */
  const updateKey = (update: DispatchUpdate): string =>
    `${update.state}:${'position' in update ? update.position : ''}`;

  function send(entry: Entry, update: DispatchUpdate): void {
    const key = updateKey(update);
    if (key === entry.lastUpdate) return;
    entry.lastUpdate = key;
    try {
      entry.request.onUpdate?.(update);
    } catch (error) {
      deps.logger.warn({ err: error, job: entry.id }, 'update callback failed');
    }
  }

  /**
   * Tell waiting requesters their new place when it changed. Coalesced over `publishEveryMs`: places
   * change at every start and finish, and recomputing them for the whole queue each time would cost
   * more than the scheduling itself (chat edits are throttled far more anyway).
   */
  function publish(): void {
    if (publishTimer || deps.isStopped()) return;
    publishTimer = setTimeout(() => {
      publishTimer = undefined;
      if (deps.isStopped() || !hasListeners()) return;
      for (const [id, position] of positions()) {
        const entry = deps.queue.get(id);
        if (!entry) continue;
        if (!deps.isUp()) {
          // Told once per outage ("engine unavailable, you are #k"); places barely move meanwhile.
          if (entry.toldDown) continue;
          entry.toldDown = true;
          send(entry, { state: 'waiting-engine', position, etaSec: deps.etaSec(position) });
          continue;
        }
        entry.toldDown = false;
        send(entry, { state: 'queued', position, etaSec: deps.etaSec(position) });
      }
    }, deps.everyMs);
  }

  const hasListeners = (): boolean => deps.queue.items().some((entry) => entry.request.onUpdate);

  return { positions, send, updateKey, publish, stop: () => clearTimeout(publishTimer) };
}
