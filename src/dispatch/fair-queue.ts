/**
 * The waiting room in front of the GPU: one FIFO per channel, served round-robin so a channel that
 * floods the bot cannot starve the others (priorities alone would serve it in arrival
 * order). STAT work goes first; routine work that has waited `agingMs` is promoted to the STAT class,
 * so a stream of STAT requests delays routine reads but never starves them. Pure and clock-driven:
 * the dispatcher prepares in `ranks()` order and starts reads from `pickNext()`; the tests drive it
 * with a fake clock.
 */
export interface QueueItem {
  id: string;
  channelId: string;
  /** > 0 is STAT. */
  priority: number;
  /** ms since epoch; resumed jobs keep their original time and so their place. */
  enqueuedAt: number;
  seq: number;
}

export interface FairQueueOptions {
  clock: () => number;
  /** Routine work older than this competes as STAT. */
  agingMs: number;
}

export interface FairQueue<T extends QueueItem> {
  readonly size: number;
  push(item: T): void;
  remove(id: string): T | undefined;
  get(id: string): T | undefined;
  /**
   * Take the next item among those `eligible` (default: all) — for the dispatcher, the prepared ones:
   * STAT class first, channels in turn, each channel's own order kept among its eligible items.
   */
  pickNext(eligible?: (item: T) => boolean): T | undefined;
  /**
   * 1-based service order of the waiting items if nothing else arrived (for "you are #k"), in rank
   * order; only the first `limit` when given.
   */
  ranks(limit?: number): Map<string, number>;
  items(): T[];
}

const before = (a: QueueItem, b: QueueItem): boolean =>
  a.enqueuedAt < b.enqueuedAt || (a.enqueuedAt === b.enqueuedAt && a.seq < b.seq);

export function createFairQueue<T extends QueueItem>(options: FairQueueOptions): FairQueue<T> {
  const channels = new Map<string, T[]>();
  /** Channels in round-robin order; `cursor` is the index of the next one to consider. */
  const order: string[] = [];
  let cursor = 0;
  const byId = new Map<string, T>();

  const isStat = (item: T, now: number): boolean =>
    item.priority > 0 || now - item.enqueuedAt >= options.agingMs;

  /** A channel's candidate: its first eligible STAT-class item, else its first eligible item. */
  function candidate(
    list: T[],
    now: number,
    eligible: (item: T) => boolean,
  ): { item: T; stat: boolean } | undefined {
    const head = list.find(eligible);
    if (!head) return undefined;
    if (isStat(head, now)) return { item: head, stat: true };
    const stat = list.find((item) => item.priority > 0 && eligible(item));
    return stat ? { item: stat, stat: true } : { item: head, stat: false };
  }

  function dropChannel(channelId: string): void {
    const index = order.indexOf(channelId);
    channels.delete(channelId);
    if (index < 0) return;
    order.splice(index, 1);
    if (index < cursor) cursor -= 1;
    if (cursor >= order.length) cursor = 0;
  }

  function removeItem(item: T): void {
    const list = channels.get(item.channelId);
    byId.delete(item.id);
    if (!list) return;
    const index = list.indexOf(item);
    if (index >= 0) list.splice(index, 1);
    if (list.length === 0) dropChannel(item.channelId);
  }

  return {
    get size() {
      return byId.size;
    },
    push(item) {
      let list = channels.get(item.channelId);
      if (!list) {
        list = [];
        channels.set(item.channelId, list);
        order.push(item.channelId);
      }
      // Usually appended; a resumed or re-queued item goes back to its place by age.
      let index = list.length;
      while (index > 0 && before(item, list[index - 1]!)) index -= 1;
      list.splice(index, 0, item);
      byId.set(item.id, item);
    },
    remove(id) {
      const item = byId.get(id);
      if (item) removeItem(item);
      return item;
    },
    get: (id) => byId.get(id),
    pickNext(eligible = () => true) {
      if (order.length === 0) return undefined;
      const now = options.clock();
      const candidates = order.map((channelId) => candidate(channels.get(channelId)!, now, eligible));
      const anyStat = candidates.some((entry) => entry?.stat);
      for (let step = 0; step < order.length; step += 1) {
        const index = (cursor + step) % order.length;
        const entry = candidates[index];
        if (!entry || (anyStat && !entry.stat)) continue;
        cursor = index + 1;
        removeItem(entry.item);
        if (cursor >= order.length) cursor = 0;
        return entry.item;
      }
      return undefined;
    },
    ranks(limit = Number.POSITIVE_INFINITY) {
      // Replays pickNext on a copy, with today's classes (aging during the wait is ignored).
      const now = options.clock();
      const lists = order.map((channelId) => {
        const list = channels.get(channelId)!;
        return {
          stat: list.filter((item) => isStat(item, now)),
          routine: list.filter((item) => !isStat(item, now)),
        };
      });
      const ranks = new Map<string, number>();
      let at = cursor;
      let rank = 0;
      while (rank < Math.min(limit, byId.size)) {
        const anyStat = lists.some((list) => list.stat.length > 0);
        let served = false;
        for (let step = 0; step < lists.length; step += 1) {
          const index = (at + step) % lists.length;
          const list = lists[index]!;
          const next = anyStat ? list.stat.shift() : list.routine.shift();
          if (!next) continue;
          rank += 1;
          ranks.set(next.id, rank);
          at = index + 1;
          served = true;
          break;
        }
        if (!served) break;
      }
      return ranks;
    },
    items: () => [...byId.values()],
  };
}
