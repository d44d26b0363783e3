import { readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.ts';
import { storeCorrupt } from './faults.ts';
import { journalName, listGenerations, replayJournal } from './journal.ts';
import { readSnapshot, type SnapshotRead } from './snapshot.ts';
import { emptyState, type StateData } from './state.ts';

export interface LoadedState {
  state: StateData;
  /** The snapshot on disk is not the current format or not good: write one at once. */
  compactNow: boolean;
  /** Changes replayed from the journal. */
  replayed: number;
}

const repairHint =
  'Nothing was changed. Run `quickread store repair` to keep every valid entry (it lists what it drops), or `quickread store repair --discard-state` to start empty with the old files kept aside.';

/** Names of copies moved aside (`<file>.corrupt-<time>`): state that existed, so never a first run. */
export const isAsideCopy = (name: string): boolean =>
  /^(state\.json(\.bak)?|journal-\d+\.jsonl)\.corrupt-/.test(name);

export const asideName = (file: string, at: number): string =>
  `${file}.corrupt-${new Date(at).toISOString().replace(/[:.]/g, '-')}`;

/** What is wrong with a snapshot, naming up to three damaged entries by table and key (never contents). */
function describe(read: SnapshotRead): string {
  if (read.kind !== 'damaged') return read.kind;
  const where = (read.dropped ?? []).slice(0, 3).map((entry) => `${entry.table} ${entry.key}`);
  return `damaged (${read.reason}${where.length > 0 ? `: ${where.join(', ')}` : ''})`;
}

/**
 * Start-up: the snapshot plus every journal generation since it. A damaged snapshot (unparseable, or one
 * entry that fails its schema) falls back to the backup generation plus the journals since that; with no
 * good backup quickread refuses to start — every time, as nothing is moved — until the operator runs
 * `quickread store repair`. Only a folder with no trace of earlier state starts empty.
 */
export async function loadState(dataDir: string, logger: Logger, clock: () => number): Promise<LoadedState> {
  const path = join(dataDir, 'state.json');
  const main = await readSnapshot(path);
  const generations = await listGenerations(dataDir);
  if (main.kind === 'ok') {
    const replayed = await replay(dataDir, main.state, generations);
    return { state: main.state, compactNow: main.version === 1, replayed };
  }
  const backup = await readSnapshot(`${path}.bak`);
  const traces = (await readdir(dataDir)).some(isAsideCopy) || generations.length > 0;
  if ((main.kind === 'missing' || main.kind === 'empty') && backup.kind === 'missing' && !traces) {
    return { state: emptyState(), compactNow: true, replayed: 0 };
  }
  if (backup.kind === 'ok') {
    const replayed = await replay(dataDir, backup.state, generations);
    if (main.kind !== 'missing') {
      const aside = asideName('state.json', clock());
      await rename(path, join(dataDir, aside));
      logger.error({ aside, problem: describe(main) }, 'state.json damaged; moved aside');
    }
    logger.warn({ replayed }, 'state restored from state.json.bak and the journal since it');
    return { state: backup.state, compactNow: true, replayed };
  }
  throw storeCorrupt(
    `state.json ${describe(main)}; state.json.bak ${describe(backup)}`,
    `The state cannot be loaded: ${path} is ${describe(main)} and ${path}.bak is ${describe(backup)}. ${repairHint}`,
    path,
  );
}

/** Replays the journal generations the snapshot does not hold yet; any damaged line refuses the start. */
async function replay(dataDir: string, state: StateData, generations: number[]): Promise<number> {
  const wanted = generations.filter((generation) => generation >= state.journal);
  let changes = 0;
  for (const generation of wanted) {
    const file = join(dataDir, journalName(generation));
    const result = await replayJournal(file, state, { repairTail: generation === wanted.at(-1) });
    if (result.dropped.length > 0) {
      throw storeCorrupt(
        `${journalName(generation)}: ${result.dropped.length} damaged line(s)`,
        `The journal ${file} has ${result.dropped.length} damaged line(s). ${repairHint}`,
        file,
      );
    }
    changes += result.changes;
  }
  return changes;
}
