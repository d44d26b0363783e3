import { mkdir, readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { journalName, listGenerations, replayJournal } from './journal.ts';
import { asideName } from './load.ts';
import { acquireLock } from './lock.ts';
import { writeSnapshot } from './snapshot.ts';
import { checkState, type DroppedEntry, emptyState, type StateData } from './state.ts';

export interface RepairReport {
  /** Which snapshot the repaired state starts from. */
  base: 'state.json' | 'state.json.bak' | 'none';
  kept: Record<'jobs' | 'threads' | 'events' | 'images' | 'acks' | 'feedback', number>;
  dropped: DroppedEntry[];
  /** The files as they were, renamed `<file>.corrupt-<time>` (deleted with the retention period). */
  keptAside: string[];
}

async function parsedOrUndefined(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * `quickread store repair`: rebuilds the state from the newest snapshot whose top level is readable
 * (state.json, else state.json.bak) and the journal since it, keeping every valid entry and listing
 * each dropped one by table and key (never its contents). With `discard`, starts empty instead. Either
 * way the old files are kept aside, not deleted, and a good state.json is written, so the bot starts.
 * Takes the data folder's lock: it refuses to run beside a running bot (STORE_LOCKED).
 */
export async function repairStore(
  dataDir: string,
  options: { discard: boolean; clock?: () => number },
): Promise<RepairReport> {
  const clock = options.clock ?? Date.now;
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const lock = await acquireLock(join(dataDir, 'state.lock'));
  try {
    const dropped: DroppedEntry[] = [];
    let base: RepairReport['base'] = 'none';
    let state: StateData = emptyState();
    if (!options.discard) {
      for (const name of ['state.json', 'state.json.bak'] as const) {
        const checked = checkState(await parsedOrUndefined(join(dataDir, name)));
        if (!checked) continue;
        base = name;
        state = checked.state;
        dropped.push(...checked.dropped);
        break;
      }
      const generations = await listGenerations(dataDir);
      for (const generation of generations.filter((g) => g >= state.journal)) {
        const result = await replayJournal(join(dataDir, journalName(generation)), state, {
          repairTail: false,
        });
        dropped.push(...result.dropped);
      }
    }
    const generations = await listGenerations(dataDir);
    const next = Math.max(state.journal, ...generations, -1) + 1;
    const keptAside: string[] = [];
    const now = clock();
    const names = new Set(await readdir(dataDir));
    for (const name of ['state.json', 'state.json.bak', ...generations.map(journalName)]) {
      if (!names.has(name)) continue;
      const aside = asideName(name, now);
      await rename(join(dataDir, name), join(dataDir, aside));
      keptAside.push(aside);
    }
    state.journal = next;
    await writeSnapshot(join(dataDir, 'state.json'), state);
    return {
      base,
      kept: {
        jobs: Object.keys(state.jobs).length,
        threads: Object.keys(state.threads).length,
        events: Object.keys(state.events).length,
        images: Object.keys(state.images).length,
        acks: Object.keys(state.acks).length,
        feedback: state.feedback.length,
      },
      dropped,
      keptAside,
    };
  } finally {
    await lock.release();
  }
}
