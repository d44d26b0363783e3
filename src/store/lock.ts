import { open, readFile, rm } from 'node:fs/promises';
import { AppError } from '../errors.ts';

/**
 * One writer per data folder: lowdb has no cross-process locking and two writers lose updates or
 * corrupt the file (../shared/DEPENDENCIES.md). The lock file is created with O_EXCL and holds the pid
 * and, on Linux, which process that pid was: the boot id and the process start time (proc(5):
 * /proc/sys/kernel/random/boot_id, field 22 of /proc/<pid>/stat). A lock whose process is gone is
 * stale and taken over — also when the pid now belongs to another process, as after a reboot or in a
 * restarted container, where pids are reused.
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

/** "<boot id>:<start time>" of a running process, or undefined where /proc does not tell (not Linux). */
export async function processIdentity(pid: number): Promise<string | undefined> {
  const [boot, stat] = await Promise.all([
    readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => undefined),
    readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined),
  ]);
  if (!boot || !stat) return undefined;
  // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
  const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  return start ? `${boot.trim()}:${start}` : undefined;
}

export interface FileLock {
  release(): Promise<void>;
}

export async function acquireLock(path: string): Promise<FileLock> {
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n${(await processIdentity(process.pid)) ?? ''}\n`);
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
      const [pidLine = '', recorded = ''] = (await readFile(path, 'utf8').catch(() => '')).split('\n');
      const owner = Number.parseInt(pidLine, 10);
      // Our own pid with no lock held in this process means a previous incarnation (containers reuse pids).
      const live =
        Number.isInteger(owner) &&
        owner > 0 &&
        (owner === process.pid
          ? heldHere.has(path)
          : processAlive(owner) && (!recorded || recorded === (await processIdentity(owner))));
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
