import { isValidEntry, isValidFeedback, type TableName, tableNames } from './schema.ts';
import type { Acknowledgement, FeedbackEntry, StoredImageInfo, StoredJob, StoredThread } from './types.ts';

/**
 * The state in memory and in DATA_DIR/state.json (the snapshot). Version 2 adds `journal`: the first
 * journal generation (journal-<n>.jsonl) not yet folded into this snapshot. Version 1 (release 0.1, one
 * whole-file rewrite per change) is read as generation 0 and rewritten as version 2 on first start.
 *
 * Entries are never mutated in place, only replaced: a compaction copies the tables' key → entry maps
 * and writes them out over several turns of the event loop while changes go on.
 */
export interface StateData {
  version: 2;
  journal: number;
  jobs: Record<string, StoredJob>;
  threads: Record<string, StoredThread>;
  /** `e:<platform>:<eventId>` and `m:<platform>:<messageKey>` → first job and when it was seen (ms). */
  events: Record<string, { jobId?: string; at: number }>;
  images: Record<string, StoredImageInfo>;
  acks: Record<string, Acknowledgement>;
  feedback: FeedbackEntry[];
}

export const emptyState = (journal = 0): StateData => ({
  version: 2,
  journal,
  jobs: {},
  threads: {},
  events: {},
  images: {},
  acks: {},
  feedback: [],
});

/** One entry that did not pass its schema (reported by `quickread store repair`; never its contents). */
export interface DroppedEntry {
  table: TableName | 'feedback' | 'journal';
  key: string;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Checks a parsed snapshot entry by entry. Undefined when it is not a quickread state at all; otherwise
 * the valid entries and the list of those dropped. Loading refuses any drop (the backup is tried);
 * `store repair` keeps what is valid.
 */
export function checkState(raw: unknown): { state: StateData; dropped: DroppedEntry[] } | undefined {
  if (!isRecord(raw) || (raw.version !== 1 && raw.version !== 2)) return undefined;
  const journal = raw.version === 1 ? 0 : raw.journal;
  if (typeof journal !== 'number' || !Number.isInteger(journal) || journal < 0) return undefined;
  const state = emptyState(journal);
  const dropped: DroppedEntry[] = [];
  for (const table of tableNames) {
    const entries = raw[table];
    if (!isRecord(entries)) {
      dropped.push({ table, key: '*' });
      continue;
    }
    const into = state[table] as Record<string, unknown>;
    for (const [key, value] of Object.entries(entries)) {
      if (isValidEntry(table, key, value)) into[key] = value;
      else dropped.push({ table, key });
    }
  }
  if (Array.isArray(raw.feedback)) {
    raw.feedback.forEach((entry, index) => {
      if (isValidFeedback(entry)) state.feedback.push(entry as FeedbackEntry);
      else dropped.push({ table: 'feedback', key: String(index) });
    });
  } else dropped.push({ table: 'feedback', key: '*' });
  return { state, dropped };
}

/**
 * One journal line: an entry set (`v`), deleted (`d`), or a feedback vote appended. Returns false when
 * the line is not a valid change, leaving the state as it was.
 */
export function applyChange(state: StateData, change: unknown): boolean {
  if (!isRecord(change)) return false;
  if (change.t === 'feedback') {
    if (!isValidFeedback(change.v)) return false;
    state.feedback.push(change.v as FeedbackEntry);
    return true;
  }
  const table = change.t as TableName;
  if (!tableNames.includes(table) || typeof change.k !== 'string') return false;
  const into = state[table] as Record<string, unknown>;
  if (change.d === true) {
    delete into[change.k];
    return true;
  }
  if (!isValidEntry(table, change.k, change.v)) return false;
  into[change.k] = change.v;
  return true;
}
