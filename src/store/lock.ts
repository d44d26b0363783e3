import { link, readFile, rm, writeFile } from 'node:fs/promises';
import { AppError } from '../errors.ts';

/**
 * One writer per data folder: the journal and snapshot have no cross-process locking, so two writers
 * would lose updates or interleave journal lines. The lock file is created with O_EXCL and holds the pid
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
  // The whole record is written to a file of our own first and then hard-linked into place: link()
  // fails with EEXIST atomically, so no other process can ever read a lock file still being written.
  const record = `${process.pid}\n${(await processIdentity(process.pid)) ?? ''}\n`;
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, record, { mode: 0o600 });
  try {
    for (let attempt = 0; attempt < 2; attempt += 1) {
      try {
        await link(temp, path);
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
        if (await ownerLive(path, owner, recorded)) {
          throw new AppError('STORE_LOCKED', `data folder locked by pid ${owner}`, {
            details: { pid: owner },
            userMessage: `Another quickread process (pid ${owner}) is already using this data folder. Stop it, or point DATA_DIR somewhere else.`,
          });
        }
        await rm(path, { force: true });
      }
    }
    throw new AppError('STORE_LOCKED', 'could not take the data folder lock');
  } finally {
    await rm(temp, { force: true });
  }
}

/**
 * Whether the lock's writer still runs. Our own pid with no lock held in this process means a
 * previous incarnation (containers reuse pids). Another live pid counts unless both identities are
 * known and differ: where /proc hides other processes (hidepid) or is absent, a live pid is trusted.
 */
async function ownerLive(path: string, owner: number, recorded: string): Promise<boolean> {
  if (!Number.isInteger(owner) || owner <= 0) return false;
  if (owner === process.pid) return heldHere.has(path);
  if (!processAlive(owner)) return false;
  if (!recorded) return true;
  const current = await processIdentity(owner);
  return current === undefined || current === recorded;
}
