import { open, readFile, rm } from 'node:fs/promises';
import { AppError } from '../errors.ts';

/**
 * One writer per data folder: lowdb has no cross-process locking and two writers lose updates or
 * corrupt the file (../shared/DEPENDENCIES.md). The lock file is created with O_EXCL and holds the pid;
 * a lock whose process is gone is stale and taken over.
 */
const heldHere = new Set<string>();

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface FileLock {
  release(): Promise<void>;
}

export async function acquireLock(path: string): Promise<FileLock> {
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.sync();
      await handle.close();
      heldHere.add(path);
      return {
        async release() {
          heldHere.delete(path);
          const owner = await readFile(path, 'utf8').catch(() => '');
          if (Number.parseInt(owner, 10) === process.pid) await rm(path, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
      // Our own pid with no lock held in this process means a previous incarnation (containers reuse pids).
      const live =
        Number.isInteger(owner) &&
        owner > 0 &&
        (owner === process.pid ? heldHere.has(path) : processAlive(owner));
      if (live) {
        throw new AppError('STORE_LOCKED', `data folder locked by pid ${owner}`, {
          details: { pid: owner },
          userMessage: `Another quickread process (pid ${owner}) is already using this data folder. Stop it, or point DATA_DIR somewhere else.`,
        });
      }
      await rm(path, { force: true });
    }
  }
  throw new AppError('STORE_LOCKED', 'could not take the data folder lock');
}
