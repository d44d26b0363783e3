import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.ts';
import { type StoreHealth, storeWriteError } from './faults.ts';
import { type JournalFile, journalName, listGenerations, openJournal } from './journal.ts';
import type { TableName } from './schema.ts';
import { writeSnapshot } from './snapshot.ts';
import type { StateData } from './state.ts';

/**
 * Makes changes to the in-memory state durable. Callers mark what changed (table + key) and wait for a
 * flush: every change marked before it is appended to the journal as the entry's current value, all
 * in one write and one fdatasync (group commit), so an ack costs what changed, not what is stored.
 *
 * A write that fails (full disk, I/O error) is retried with backoff (0.1 s doubling to 5 s) until it
 * succeeds; callers of `flush('change')` simply wait, so owed work is stored and answered once space
 * returns, without a restart. `flush('accept')` — a new request — is refused at once with STORE_FULL
 * (or STORE_IO_ERROR) while writes fail, and `health()` says why.
 */
export interface StateWriter {
  mark(table: TableName, key: string): void;
  flush(kind: 'accept' | 'change'): Promise<void>;
  /** Starts a new journal generation and folds the state into state.json; resolves once durable. */
  compact(): Promise<void>;
  health(): StoreHealth;
  close(): Promise<void>;
}

export interface WriterOptions {
  dataDir: string;
  state: StateData;
  logger: Logger;
  /** Compact once the journal holds this many bytes or the snapshot's size, whichever is larger. */
  compactBytes?: number;
  /** Journal writes go through this (tests inject a failing one; default: the journal file). */
  append?: (journal: JournalFile, lines: string) => Promise<void>;
}

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
  accept: boolean;
}

const firstRetryMs = 100;
const lastRetryMs = 5000;
const failureLogEveryMs = 60_000;

export async function createStateWriter(options: WriterOptions): Promise<StateWriter> {
  const { dataDir, state, logger } = options;
  const append = options.append ?? ((journal, lines) => journal.append(lines));
  const snapshotPath = join(dataDir, 'state.json');
  let journal = await openJournal(dataDir, Math.max(state.journal, ...(await listGenerations(dataDir))));
  let snapshotJournal = state.journal;
  let snapshotBytes = await stat(snapshotPath).then(
    (info) => info.size,
    () => 0,
  );
  const dirty = new Map<string, { table: TableName; key: string }>();
  let feedbackWritten = state.feedback.length;
  let waiters: Waiter[] = [];
  let draining: Promise<void> | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let retryMs = firstRetryMs;
  let fault: { error: ReturnType<typeof storeWriteError>; lastLog: number; failures: number } | undefined;
  let compaction: Promise<void> | undefined;
  let rotateRequested = false;
  let closed = false;

  function linesFor(entries: Array<{ table: TableName; key: string }>, feedbackEnd: number): string {
    let lines = '';
    for (const { table, key } of entries) {
      const value = (state[table] as Record<string, unknown>)[key];
      lines += `${JSON.stringify(value === undefined ? { t: table, k: key, d: true } : { t: table, k: key, v: value })}\n`;
    }
    for (let index = feedbackWritten; index < feedbackEnd; index += 1)
      lines += `${JSON.stringify({ t: 'feedback', v: state.feedback[index] })}\n`;
    return lines;
  }

  function noteFailure(error: unknown): void {
    const coded = storeWriteError(error, join(dataDir, journalName(journal.generation)));
    const now = Date.now();
    if (!fault || fault.error.code !== coded.code || now - fault.lastLog >= failureLogEveryMs) {
      // One line per minute with the count, not one per retry.
      logger.error(
        { code: coded.code, errno: coded.details.errno, failures: (fault?.failures ?? 0) + 1 },
        'state write failed; retrying',
      );
      fault = { error: coded, lastLog: now, failures: 1 };
    } else fault.failures += 1;
  }

  async function drain(): Promise<void> {
    while (waiters.length > 0 || (fault && dirty.size > 0)) {
      const batch = waiters;
      waiters = [];
      const entries = [...dirty.values()];
      dirty.clear();
      const feedbackEnd = state.feedback.length;
      const lines = linesFor(entries, feedbackEnd);
      try {
        if (lines) await append(journal, lines);
      } catch (error) {
        for (const entry of entries) {
          const id = `${entry.table}\u0000${entry.key}`;
          if (!dirty.has(id)) dirty.set(id, entry);
        }
        noteFailure(error);
        const stillWaiting: Waiter[] = [];
        for (const waiter of batch) {
          if (waiter.accept) waiter.reject(fault?.error);
          else stillWaiting.push(waiter);
        }
        waiters = [...stillWaiting, ...waiters];
        if (closed) break;
        retryTimer = setTimeout(() => {
          retryTimer = undefined;
          start();
        }, retryMs);
        retryMs = Math.min(retryMs * 2, lastRetryMs);
        return;
      }
      feedbackWritten = feedbackEnd;
      if (fault) {
        logger.warn({ code: fault.error.code, failures: fault.failures }, 'state writes work again');
        fault = undefined;
        retryMs = firstRetryMs;
      }
      for (const waiter of batch) waiter.resolve();
      if (
        !compaction &&
        (rotateRequested || journal.bytes > Math.max(options.compactBytes ?? 8 << 20, snapshotBytes))
      )
        await rotate();
    }
  }

  function start(): void {
    if (draining || retryTimer) return;
    draining = drain().finally(() => {
      draining = undefined;
      // Waiters that arrived while the last write was finishing.
      if (waiters.length > 0 && !retryTimer && !closed) start();
    });
  }

  /** Between two journal writes: open the next generation, then write the snapshot in the background. */
  async function rotate(): Promise<void> {
    rotateRequested = false;
    let next: JournalFile;
    try {
      next = await openJournal(dataDir, journal.generation + 1);
    } catch (error) {
      // No room for a new file: keep appending to this generation; the next rotation tries again.
      logger.error({ err: storeWriteError(error, dataDir) }, 'journal rotation failed');
      return;
    }
    const previous = journal;
    journal = next;
    await previous.close();
    state.journal = next.generation;
    // Everything before generation `next` is in memory now; writeSnapshot copies the tables before it awaits.
    compaction = writeSnapshot(snapshotPath, state)
      .then(async (bytes) => {
        snapshotBytes = bytes;
        // The backup is the previous snapshot: keep the journals it needs, drop older ones.
        const backupJournal = snapshotJournal;
        snapshotJournal = next.generation;
        for (const generation of await listGenerations(dataDir))
          if (generation < backupJournal) await rm(join(dataDir, journalName(generation)), { force: true });
      })
      .catch((error: unknown) => {
        logger.error(
          { err: storeWriteError(error, snapshotPath) },
          'snapshot write failed; the journal keeps the changes',
        );
      })
      .finally(() => {
        compaction = undefined;
      });
  }

  const writer: StateWriter = {
    mark(table, key) {
      dirty.set(`${table}\u0000${key}`, { table, key });
    },
    flush(kind) {
      if (closed) return Promise.reject(new Error('store closed'));
      if (kind === 'accept' && fault) return Promise.reject(fault.error);
      return new Promise<void>((resolve, reject) => {
        waiters.push({ resolve, reject, accept: kind === 'accept' });
        start();
      });
    },
    async compact() {
      // Never wait on a failing disk for a compaction (retention calls this at start-up).
      if (fault) return;
      await compaction;
      rotateRequested = true;
      await writer.flush('change');
      // The rotation runs in the same drain, just after this flush's waiters are told.
      await draining;
      await compaction;
    },
    health() {
      return fault ? { ok: false, code: fault.error.code, reason: fault.error.userMessage } : { ok: true };
    },
    async close() {
      if (closed) return;
      // One last try for what is marked; a failing disk does not hold the stop up.
      if (!fault) await writer.flush('change').catch(() => undefined);
      closed = true;
      clearTimeout(retryTimer);
      retryTimer = undefined;
      for (const waiter of waiters.splice(0)) waiter.reject(fault?.error ?? new Error('store closed'));
      // A write or a journal rotation in progress finishes before its file is closed.
      await draining;
      for (const waiter of waiters.splice(0)) waiter.reject(fault?.error ?? new Error('store closed'));
      await compaction;
      await journal.close().catch(() => undefined);
    },
  };
  return writer;
}
