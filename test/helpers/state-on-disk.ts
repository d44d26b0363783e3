import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { journalName, listGenerations, replayJournal } from '../../src/store/journal.ts';
import { readSnapshot } from '../../src/store/snapshot.ts';
import type { StateData } from '../../src/store/state.ts';

/**
 * What a restart would load from DATA_DIR: state.json plus the journal since it. Read-only (a torn last
 * line is skipped, not cut), so it can look at the folder of a bot that is still running.
 */
export async function stateOnDisk(dataDir: string): Promise<StateData> {
  const snapshot = await readSnapshot(join(dataDir, 'state.json'));
  if (snapshot.kind !== 'ok') throw new Error(`state.json ${snapshot.kind}`);
  for (const generation of await listGenerations(dataDir)) {
    if (generation < snapshot.state.journal) continue;
    await replayJournal(join(dataDir, journalName(generation)), snapshot.state, { repairTail: false });
  }
  return snapshot.state;
}

/** Every byte of state the bot wrote (snapshot, backup, journals), for "never stored" checks. */
export async function allStateText(dataDir: string): Promise<string> {
  const names = (await readdir(dataDir)).filter((name) => /^(state\.json|journal-)/.test(name));
  return (await Promise.all(names.map((name) => readFile(join(dataDir, name), 'utf8')))).join('\n');
}
