/**
 * In-memory state of the /read interactions being answered. An interaction must get its first
 * response within 3 s (we defer: type 5 DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE) and its token then
 * allows editing that response and posting follow-ups for 15 minutes ("Interactions → Receiving and
 * Responding"). The token lives here and in the request's platformData only; it is never logged and
 * is dropped when the window closes. After the window (or a restart) replies go to the channel.
 */

/** A little under Discord's 15 minutes, so a slow request cannot race the expiry. */
export const INTERACTION_WINDOW_MS = 14 * 60_000;

export interface InteractionContext {
  readonly id: string;
  readonly token: string;
  readonly applicationId: string;
  readonly channelId: string;
  readonly createdAt: number;
  /** Resolves true once the deferred response was accepted, false when it failed. */
  deferred: Promise<boolean>;
  /** Whether the deferred "thinking…" response has been replaced by a real message yet. */
  originalUsed: boolean;
  originalId?: string;
  /**
   * The thread channel started on the deferred response (its id is the response message's id), when
   * the command was used in a guild text channel.
   */
  threadId?: string;
  /** Said privately to the user once the response was first edited (e.g. why there is no thread). */
  note?: string;
}

export interface InteractionRegistry {
  add(context: Omit<InteractionContext, 'deferred' | 'originalUsed'>): InteractionContext;
  get(id: string): InteractionContext | undefined;
  /** The context while its token is still usable (deferred successfully and inside the window). */
  live(id: string): Promise<InteractionContext | undefined>;
  /** Tie a context to the thread started on its response, so posts to that thread can use it. */
  bindThread(id: string, threadId: string): void;
  /** The live context whose response a thread was started on, if any. */
  liveForThread(threadId: string): Promise<InteractionContext | undefined>;
  /**
   * True exactly once per /read thread whose head (the deferred response) has not been replaced yet:
   * the caller replaces it. Remembered past the token's window (without the token), so a job that
   * waited longer still answers at the head rather than leaving "thinking…" there.
   */
  takeHead(threadId: string): boolean;
  clear(): void;
}

export function createInteractionRegistry(clock: () => number): InteractionRegistry {
  const contexts = new Map<string, InteractionContext>();
  const byThread = new Map<string, string>();
  /** Heads still showing "thinking…" whose context (and token) is gone. */
  const unusedHeads = new Set<string>();
  const timers = new Set<NodeJS.Timeout>();
  const registry: InteractionRegistry = {
    add(input) {
      const context: InteractionContext = { ...input, deferred: Promise.resolve(false), originalUsed: false };
      contexts.set(input.id, context);
      const timer = setTimeout(() => {
        const gone = contexts.get(input.id);
        if (gone?.threadId) {
          byThread.delete(gone.threadId);
          if (!gone.originalUsed) {
            if (unusedHeads.size >= 10_000) unusedHeads.delete(unusedHeads.values().next().value as string);
            unusedHeads.add(gone.threadId);
          }
        }
        contexts.delete(input.id);
        timers.delete(timer);
      }, INTERACTION_WINDOW_MS + 60_000);
      timer.unref();
      timers.add(timer);
      return context;
    },
    get: (id) => contexts.get(id),
    async live(id) {
      const context = contexts.get(id);
      if (!context) return undefined;
      if (!(await context.deferred)) return undefined;
      return clock() - context.createdAt < INTERACTION_WINDOW_MS ? context : undefined;
    },
    bindThread(id, threadId) {
      const context = contexts.get(id);
      if (!context) return;
      context.threadId = threadId;
      byThread.set(threadId, id);
    },
    async liveForThread(threadId) {
      const id = byThread.get(threadId);
      return id ? registry.live(id) : undefined;
    },
    takeHead(threadId) {
      if (unusedHeads.delete(threadId)) return true;
      const id = byThread.get(threadId);
      const context = id ? contexts.get(id) : undefined;
      if (!context || context.originalUsed) return false;
      context.originalUsed = true;
      return true;
    },
    clear() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      contexts.clear();
      byThread.clear();
      unusedHeads.clear();
    },
  };
  return registry;
}
