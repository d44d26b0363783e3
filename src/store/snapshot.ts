import { copyFile, link, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { syncDirectory } from './files.ts';
import { checkState, type DroppedEntry, type StateData } from './state.ts';

/**
 * DATA_DIR/state.json, the snapshot the journal is folded into, and state.json.bak, the generation
 * before it. A snapshot is written as temp file → fsync → previous file hard-linked as `.bak` →
 * rename → fsync of the directory (a rename is durable only once its directory entry is).
 */
export type SnapshotRead =
  | { kind: 'missing' }
  | { kind: 'empty' }
  | { kind: 'damaged'; reason: string; dropped?: DroppedEntry[] }
  | { kind: 'ok'; state: StateData; version: 1 | 2 };

export async function readSnapshot(path: string): Promise<SnapshotRead> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    return { kind: 'damaged', reason: `unreadable (${(error as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  if (text.length === 0) return { kind: 'empty' };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { kind: 'damaged', reason: 'not JSON (truncated or overwritten)' };
  }
  const checked = checkState(raw);
  if (!checked) return { kind: 'damaged', reason: 'not a quickread state (wrong top-level shape)' };
  if (checked.dropped.length > 0) {
    const reason = `${checked.dropped.length} damaged entr${checked.dropped.length === 1 ? 'y' : 'ies'}`;
    return { kind: 'damaged', reason, dropped: checked.dropped };
  }
  return { kind: 'ok', state: checked.state, version: (raw as { version: 1 | 2 }).version };
}

/** Entries written between two yields to the event loop: a 50k-job snapshot never stalls an ack. */
const entriesPerTurn = 500;

/**
 * Writes `state` as the new snapshot, keeping the current one as `.bak`. The tables are copied
 * (key → entry, entries are never mutated) before the first await, so changes made meanwhile are not
 * in this snapshot: they are in the journal generation `state.journal` names.
 */
export async function writeSnapshot(path: string, state: StateData): Promise<number> {
  const tables = {
    jobs: Object.entries(state.jobs),
    threads: Object.entries(state.threads),
    events: Object.entries(state.events),
    images: Object.entries(state.images),
    acks: Object.entries(state.acks),
  };
  const feedback = state.feedback.slice();
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.tmp`);
  const handle = await open(temp, 'w', 0o600);
  let bytes = 0;
  try {
    let chunk = `{"version":2,"journal":${state.journal}`;
    const flush = async () => {
      await handle.write(chunk);
      bytes += Buffer.byteLength(chunk);
      chunk = '';
    };
    for (const [name, entries] of Object.entries(tables)) {
      chunk += `,${JSON.stringify(name)}:{`;
      for (let index = 0; index < entries.length; index += 1) {
        const [key, value] = entries[index] as [string, unknown];
        chunk += `${index > 0 ? ',' : ''}${JSON.stringify(key)}:${JSON.stringify(value)}`;
        if (index % entriesPerTurn === entriesPerTurn - 1) {
          await flush();
          await nextTurn();
        }
      }
      chunk += '}';
    }
    chunk += `,"feedback":${JSON.stringify(feedback)}}`;
    await flush();
    await handle.sync();
  } finally {
    await handle.close();
  }
  const backup = `${path}.bak`;
  await rm(`${backup}.tmp`, { force: true });
  // The previous good snapshot becomes the backup, by hard link so the swap costs no copy.
  const hadCurrent = await link(path, `${backup}.tmp`).then(
    () => true,
    async (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return false;
      // A file system without hard links: a copy does the same job.
      await copyFile(path, `${backup}.tmp`);
      return true;
    },
  );
  if (hadCurrent) await rename(`${backup}.tmp`, backup);
  await rename(temp, path);
  await syncDirectory(dir);
  return bytes;
}
