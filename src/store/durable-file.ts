import { constants } from 'node:fs';
import { copyFile, link, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Adapter } from 'lowdb';
import { JSONFile } from 'lowdb/node';
import { AppError } from '../errors.ts';
import type { Logger } from '../log.ts';

/**
 * A lowdb adapter that survives power loss and torn writes. lowdb's own JSONFile renames a temp file
 * into place but never fsyncs (../shared/DEPENDENCIES.md), so after a crash the state file can be
 * empty, truncated or all zeros. Here every write is: temp file → fsync → keep the previous good file
 * as `.bak` → rename → fsync the directory (the rename is durable only once the directory entry is).
 * Reading goes through lowdb's JSONFile; a damaged file is moved aside and the backup restored, never
 * silently replaced by an empty state.
 */
export interface DurableJsonFileOptions<T> {
  logger: Logger;
  clock: () => number;
  /** Returns false when parsed JSON does not have the state's shape. */
  validate: (data: unknown) => data is T;
}

export interface DurableJsonFile<T> extends Adapter<T> {
  /** What happened at the last read, for logs and tests. */
  readonly lastRead: { restoredFromBackup: boolean; movedAside?: string };
  /** How many fsync calls the adapter made (tests check the durable path ran). */
  readonly fsyncs: number;
}

export function createDurableJsonFile<T>(
  path: string,
  options: DurableJsonFileOptions<T>,
): DurableJsonFile<T> {
  const dir = dirname(path);
  const tmpPath = join(dir, `.${basename(path)}.tmp`);
  const bakPath = `${path}.bak`;
  const bakTmpPath = `${bakPath}.tmp`;
  let fsyncs = 0;
  const lastRead: { restoredFromBackup: boolean; movedAside?: string } = { restoredFromBackup: false };

  async function tryRead(file: string): Promise<{ ok: true; data: T | null } | { ok: false }> {
    try {
      const data = await new JSONFile<unknown>(file).read();
      if (data === null) return { ok: true, data: null };
      return options.validate(data) ? { ok: true, data } : { ok: false };
    } catch {
      return { ok: false };
    }
  }

  async function syncDir(): Promise<void> {
    // Directories cannot be opened for writing; O_RDONLY + fsync is how POSIX persists a rename.
    const handle = await open(dir, constants.O_RDONLY);
    try {
      await handle.sync();
      fsyncs += 1;
    } finally {
      await handle.close();
    }
  }

  async function writeFileDurably(file: string, text: string): Promise<void> {
    const handle = await open(file, 'w', 0o600);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
      fsyncs += 1;
    } finally {
      await handle.close();
    }
  }

  async function sizeOf(file: string): Promise<number | undefined> {
    try {
      return (await stat(file)).size;
    } catch {
      return undefined;
    }
  }

  return {
    get lastRead() {
      return lastRead;
    },
    get fsyncs() {
      return fsyncs;
    },
    async read() {
      await rm(tmpPath, { force: true });
      const main = await tryRead(path);
      if (main.ok && main.data !== null) return main.data;
      const mainSize = await sizeOf(path);
      const backup = await tryRead(bakPath);
      if (mainSize !== undefined) {
        const aside = `${path}.corrupt-${new Date(options.clock()).toISOString().replace(/[:.]/g, '-')}`;
        await rename(path, aside);
        lastRead.movedAside = aside;
        options.logger.error({ aside: basename(aside), bytes: mainSize }, 'state file damaged; moved aside');
      }
      if (backup.ok && backup.data !== null) {
        const text = await readFile(bakPath, 'utf8');
        await writeFileDurably(tmpPath, text);
        await rename(tmpPath, path);
        await syncDir();
        lastRead.restoredFromBackup = true;
        options.logger.warn('state restored from the backup generation');
        return backup.data;
      }
      // No usable backup: only a first run (no file, or an empty one left by a crash during the very
      // first write) may start empty. Anything else would silently lose every queued request.
      // A backup that exists but cannot be read means state did exist: never start empty over it.
      const backupSize = await sizeOf(bakPath);
      if ((mainSize === undefined || mainSize === 0) && !backupSize) return null;
      throw new AppError('STORE_CORRUPT', 'state file unreadable and no backup generation', {
        details: { movedAside: lastRead.movedAside ? basename(lastRead.movedAside) : undefined },
        userMessage: `The state file in the data folder is damaged and no backup could be restored. It was moved aside as ${lastRead.movedAside ? basename(lastRead.movedAside) : 'a .corrupt file'}; inspect it, then start again.`,
      });
    },
    async write(data) {
      await writeFileDurably(tmpPath, JSON.stringify(data));
      if ((await sizeOf(path)) !== undefined) {
        // One backup generation: the previous good file, by hard link so the swap costs no copy.
        await rm(bakTmpPath, { force: true });
        try {
          await link(path, bakTmpPath);
        } catch {
          await copyFile(path, bakTmpPath);
        }
        await rename(bakTmpPath, bakPath);
      }
      await rename(tmpPath, path);
      await syncDir();
    },
  };
}
