import { type FileHandle, open, readdir, readFile, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { applyChange, type DroppedEntry, type StateData } from './state.ts';

/**
 * DATA_DIR/journal-<generation>.jsonl: one JSON line per change, appended and fsynced (fdatasync) before
 * the change counts as stored. An ack waits for a few hundred bytes, whatever the size of the state.
 * A compaction starts the next generation and folds everything before it into state.json.
 */
export const journalName = (generation: number): string => `journal-${generation}.jsonl`;

export async function listGenerations(dataDir: string): Promise<number[]> {
  const generations: number[] = [];
  for (const name of await readdir(dataDir)) {
    const match = /^journal-(\d+)\.jsonl$/.exec(name);
    if (match) generations.push(Number(match[1]));
  }
  return generations.sort((a, b) => a - b);
}

/**
 * Applies one journal file to `state`. A last line without its newline is a write cut short by a crash
 * or a full disk: it was never acknowledged, so it is cut off (`repairTail`). Any other line that is not
 * a valid change is damage, returned as dropped.
 */
export async function replayJournal(
  path: string,
  state: StateData,
  options: { repairTail: boolean },
): Promise<{ dropped: DroppedEntry[]; changes: number }> {
  const text = await readFile(path, 'utf8');
  const dropped: DroppedEntry[] = [];
  let changes = 0;
  let offset = 0;
  let lineNo = 0;
  while (offset < text.length) {
    const end = text.indexOf('\n', offset);
    lineNo += 1;
    if (end < 0) {
      // Torn tail: keep the bytes before it only.
      if (options.repairTail) await truncate(path, Buffer.byteLength(text.slice(0, offset)));
      break;
    }
    const line = text.slice(offset, end);
    offset = end + 1;
    if (line.length === 0) continue;
    let change: unknown;
    try {
      change = JSON.parse(line);
    } catch {
      change = undefined;
    }
    if (applyChange(state, change)) changes += 1;
    else dropped.push({ table: 'journal', key: `${path.slice(path.lastIndexOf('/') + 1)}:${lineNo}` });
  }
  return { dropped, changes };
}

/** The open journal generation changes are appended to. */
export interface JournalFile {
  readonly generation: number;
  readonly bytes: number;
  /** Appends whole lines and fsyncs; on failure the file is cut back to its last good length. */
  append(lines: string): Promise<void>;
  close(): Promise<void>;
}

export async function openJournal(dataDir: string, generation: number): Promise<JournalFile> {
  const handle: FileHandle = await open(join(dataDir, journalName(generation)), 'a', 0o600);
  let bytes = (await handle.stat()).size;
  return {
    generation,
    get bytes() {
      return bytes;
    },
    async append(lines) {
      try {
        await handle.write(lines);
        await handle.datasync();
        bytes += Buffer.byteLength(lines);
      } catch (error) {
        // A full disk can take half a line: cut it so the next append starts on a line boundary.
        await handle.truncate(bytes).catch(() => undefined);
        throw error;
      }
    },
    close: () => handle.close(),
  };
}
