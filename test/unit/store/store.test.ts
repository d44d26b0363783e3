import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PreparedImage } from '../../../src/core/types.ts';
import { type AppError, isAppError } from '../../../src/errors.ts';
import { silentLogger } from '../../../src/log.ts';
import { openStore } from '../../../src/store/index.ts';
import { processIdentity } from '../../../src/store/lock.ts';
import { contractJob as job } from '../../helpers/store-contract.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qr-store-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const image = (seed: string): PreparedImage => {
  const png = Buffer.from(`png-${seed}`);
  return {
    png,
    width: 64,
    height: 64,
    tokens: 4,
    sha256: createHash('sha256').update(png).digest('hex'),
    meta: { modality: 'CR' },
    deid: { removedTags: 3, burnedInAnnotation: false, identityPresent: false },
    window: { center: 1, width: 2, source: 'none', reason: 'test' },
    source: { kind: 'png', rows: 64, columns: 64, frames: 1, frameIndex: 1 },
  };
};

/**
 * A store that has compacted after each write (compactBytes: 1), so state.json holds jobs a and b and
 * state.json.bak, with the journal since it, holds them too.
 */
async function seeded(): Promise<void> {
  const store = await openStore(dir, { logger: silentLogger, compactBytes: 1 });
  await store.insertJob(job('a'));
  await store.insertJob(job('b'));
  await store.close();
}

describe('store durability', () => {
  it('keeps jobs across a restart: a journal line per change, folded into state.json on the next start', async () => {
    await seeded();
    const journal = (await readdir(dir)).filter((n) => n.startsWith('journal-'));
    const lines = (await Promise.all(journal.map((n) => readFile(join(dir, n), 'utf8')))).join('');
    expect(lines).toContain('"t":"jobs","k":"b"');
    const store = await openStore(dir, { logger: silentLogger });
    expect((await store.listJobs()).map((j) => j.id)).toEqual(['a', 'b']);
    await store.close();
  });

  const damage: Array<[string, (path: string) => Promise<void>]> = [
    ['garbage', (path) => writeFile(path, 'not json {')],
    ['truncated', async (path) => truncate(path, Math.floor((await stat(path)).size / 2))],
    ['all-zero', async (path) => writeFile(path, Buffer.alloc((await stat(path)).size))],
    ['empty', (path) => writeFile(path, '')],
    ['wrong shape', (path) => writeFile(path, '{"version":1,"jobs":[]}')],
  ];
  for (const [name, corrupt] of damage) {
    it(`moves a ${name} state file aside and restores the backup`, async () => {
      await seeded();
      await corrupt(join(dir, 'state.json'));
      const store = await openStore(dir, { logger: silentLogger });
      expect((await store.listJobs()).map((j) => j.id)).toEqual(['a', 'b']);
      await store.close();
      const names = await readdir(dir);
      expect(names.some((n) => n.startsWith('state.json.corrupt-'))).toBe(true);
      expect(JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')).jobs.a.id).toBe('a');
    });
  }

  it('lets a damaged copy moved aside expire with the retention period (it holds thread bodies)', async () => {
    await seeded();
    await writeFile(join(dir, 'state.json'), '{"version":1,"jobs":{"a":');
    const store = await openStore(dir, { logger: silentLogger });
    const aside = (await readdir(dir)).find((n) => n.startsWith('state.json.corrupt-'))!;
    const fresh = join(dir, 'state.json.corrupt-2026-11-25T00-00-00-000Z');
    await writeFile(fresh, 'CANARY-THREAD-BODY');
    const old = new Date(Date.now() - 3 * 3600_000);
    await utimes(join(dir, aside), old, old);
    expect((await store.sweep(3600_000)).corrupt).toBe(1);
    const left = await readdir(dir);
    expect(left).not.toContain(aside);
    expect(left).toContain('state.json.corrupt-2026-11-25T00-00-00-000Z');
    await store.close();
  });

  it('refuses to start empty when the state is damaged and there is no backup, every time', async () => {
    await writeFile(join(dir, 'state.json'), '{"version":1,"jobs":{"a":');
    for (const attempt of [1, 2]) {
      const error = await openStore(dir, { logger: silentLogger }).catch((e: unknown) => e);
      expect(isAppError(error, 'STORE_CORRUPT'), `start ${attempt}`).toBe(true);
      expect((error as AppError).userMessage).toContain(join(dir));
      expect((error as AppError).userMessage).toContain('quickread store repair');
    }
    // Nothing was moved: the damaged file is where the operator expects it.
    expect(await readFile(join(dir, 'state.json'), 'utf8')).toBe('{"version":1,"jobs":{"a":');
  });

  it('starts empty on a first run whose only write was cut short (empty file, no backup)', async () => {
    await writeFile(join(dir, 'state.json'), '');
    const store = await openStore(dir, { logger: silentLogger });
    expect(await store.listJobs()).toEqual([]);
    await store.close();
  });

  it('refuses to start empty when the state file is empty and the backup is damaged', async () => {
    await writeFile(join(dir, 'state.json'), '');
    await writeFile(join(dir, 'state.json.bak'), Buffer.alloc(500));
    const error = await openStore(dir, { logger: silentLogger }).catch((e: unknown) => e);
    expect(isAppError(error, 'STORE_CORRUPT')).toBe(true);
  });

  it('refuses a second writer and takes over a stale lock', async () => {
    const first = await openStore(dir, { logger: silentLogger });
    const error = await openStore(dir, { logger: silentLogger }).catch((e: unknown) => e);
    expect(isAppError(error, 'STORE_LOCKED')).toBe(true);
    await first.close();
    // A lock left by a process that no longer exists.
    const dead = spawnSync(process.execPath, [
      '-e',
      'process.stdout.write(String(process.pid))',
    ]).stdout.toString();
    await writeFile(join(dir, 'state.lock'), `${dead}\n`);
    const second = await openStore(dir, { logger: silentLogger });
    expect(Number.parseInt(await readFile(join(dir, 'state.lock'), 'utf8'), 10)).toBe(process.pid);
    await second.close();
    await expect(stat(join(dir, 'state.lock'))).rejects.toThrow();
  });

  it('lets exactly one of several processes starting together take the lock', async () => {
    const lockUrl = new URL('../../../src/store/lock.ts', import.meta.url).href;
    const path = join(dir, 'race.lock');
    const at = Date.now() + 2000;
    // Each process waits for the same instant, tries once, and holds what it got for a moment.
    const code = `const { acquireLock } = await import(${JSON.stringify(lockUrl)});
      while (Date.now() < ${at}) {}
      try { await acquireLock(${JSON.stringify(path)}); console.log('GOT'); await new Promise((r) => setTimeout(r, 4000)); }
      catch (error) { console.log(error.code); }`;
    const run = () =>
      new Promise<string>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code]);
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
        });
        child.on('close', () => resolve(out.trim()));
      });
    const results = await Promise.all([run(), run(), run(), run()]);
    expect(results.filter((line) => line === 'GOT')).toHaveLength(1);
    expect(results.filter((line) => line === 'STORE_LOCKED')).toHaveLength(3);
  }, 20_000);

  it('refuses a lock held by another live process', async () => {
    await writeFile(join(dir, 'state.lock'), `${process.ppid}\n`);
    const error = await openStore(dir, { logger: silentLogger }).catch((e: unknown) => e);
    expect(isAppError(error, 'STORE_LOCKED')).toBe(true);
    // The same with the process's identity recorded, as a lock written on Linux has it.
    const identity = await processIdentity(process.ppid);
    await writeFile(join(dir, 'state.lock'), `${process.ppid}\n${identity ?? ''}\n`);
    const again = await openStore(dir, { logger: silentLogger }).catch((e: unknown) => e);
    expect(isAppError(again, 'STORE_LOCKED')).toBe(true);
  });

  it.skipIf(process.platform !== 'linux')(
    'takes over a lock whose pid now belongs to another process (pids reused after a reboot)',
    async () => {
      // A live pid, but not the process that wrote the lock: another boot, another start time.
      await writeFile(join(dir, 'state.lock'), `${process.ppid}\nanother-boot-id:12345\n`);
      const store = await openStore(dir, { logger: silentLogger });
      const [pid, identity] = (await readFile(join(dir, 'state.lock'), 'utf8')).split('\n');
      expect(Number(pid)).toBe(process.pid);
      expect(identity).toBe(await processIdentity(process.pid));
      expect(identity).toMatch(/^[0-9a-f-]{36}:\d+$/);
      await store.close();
    },
  );
});

describe('store contents', () => {
  it('claims an event once by event id and once by message key, across restarts', async () => {
    const store = await openStore(dir, { logger: silentLogger });
    const keys = { platform: 'slack' as const, eventId: 'Ev1', messageKey: 'slack:C1:1.1' };
    expect(await store.claimEvent(keys, 'job-1')).toEqual({ duplicate: false });
    expect(await store.claimEvent({ ...keys, eventId: 'Ev2' }, 'job-2')).toEqual({
      duplicate: true,
      jobId: 'job-1',
    });
    expect(await store.claimEvent({ ...keys, messageKey: 'slack:C1:2.2' }, 'job-3')).toEqual({
      duplicate: true,
      jobId: 'job-1',
    });
    // The same ids on another platform are another message.
    expect(await store.claimEvent({ ...keys, platform: 'discord' }, 'job-4')).toEqual({ duplicate: false });
    await store.close();
    const reopened = await openStore(dir, { logger: silentLogger });
    expect(await reopened.claimEvent({ ...keys, eventId: 'Ev9' })).toEqual({
      duplicate: true,
      jobId: 'job-1',
    });
    await reopened.close();
  });

  it('keeps prepared images as PNG files named by their sha256', async () => {
    const store = await openStore(dir, { logger: silentLogger });
    const img = image('one');
    const ref = await store.saveImage(img);
    expect(ref).toBe(img.sha256);
    expect(await readFile(join(dir, 'images', `${ref}.png`))).toEqual(img.png);
    const loaded = await store.loadImage(ref);
    expect(loaded).toMatchObject({ sha256: ref, width: 64, meta: { modality: 'CR' } });
    expect(loaded?.png.equals(img.png)).toBe(true);
    await store.close();
  });

  it('sweeps images, thread bodies and finished jobs after the retention period, not live work', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const clock = () => now;
    const store = await openStore(dir, { logger: silentLogger, clock });
    const old = image('old');
    const live = image('live');
    await store.saveImage(old);
    await store.saveImage(live);
    await store.insertJob(
      job('done', { status: 'succeeded', finishedAt: new Date(now).toISOString(), imageRef: old.sha256 }),
    );
    await store.insertJob(job('waiting', { imageRef: live.sha256, threadKey: 'console:c:waiting' }));
    await store.putThread({
      key: 'console:c:done',
      platform: 'console',
      thread: { channelId: 'c', threadId: 'done' },
      active: true,
      imageRef: old.sha256,
      turns: [{ role: 'user', text: 'CANARY-THREAD-BODY' }],
      lastActivityAt: new Date(now).toISOString(),
    });
    await store.claimEvent({ platform: 'console', eventId: 'e', messageKey: 'm' });
    const stray = join(dir, 'images', `${'f'.repeat(64)}.png`);
    await writeFile(stray, 'orphan');
    await utimes(stray, new Date(now - 10 * 3600_000), new Date(now - 10 * 3600_000));

    now += 2 * 3600_000;
    expect(await store.sweep(3600_000)).toEqual({ images: 2, threads: 1, jobs: 1, events: 0, corrupt: 0 });
    expect(await store.getJob('done')).toBeUndefined();
    expect(await store.getThread('console:c:done')).toBeUndefined();
    expect(await store.loadImage(old.sha256)).toBeUndefined();
    expect(await store.loadImage(live.sha256)).toBeDefined();
    expect(await store.getJob('waiting')).toBeDefined();
    // The expired conversation is gone from the backup generation too, not only from state.json.
    for (const file of ['state.json', 'state.json.bak']) {
      expect(await readFile(join(dir, file), 'utf8')).not.toContain('CANARY-THREAD-BODY');
    }
    now += 48 * 3600_000;
    expect((await store.sweep(3600_000)).events).toBe(2);
    await store.close();
  });

  it('writes an append-only audit log of keyed hashes, never raw ids', async () => {
    const store = await openStore(dir, { logger: silentLogger });
    await store.audit({
      event: 'read',
      jobId: 'j',
      userId: 'U123',
      channelId: 'C-ward-7',
      platform: 'slack',
      model: 'm',
      urgency: 'urgent',
    });
    await store.audit({
      event: 'acknowledged',
      jobId: 'j',
      userId: 'U123',
      channelId: 'C-ward-7',
      platform: 'slack',
      acknowledgedBy: 'U999',
    });
    await store.close();
    const text = await readFile(join(dir, 'audit.jsonl'), 'utf8');
    const lines = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ event: 'read', job: 'j', model: 'm', urgency: 'urgent' });
    expect(lines[0].user).toBe(lines[1].user);
    expect(text).not.toMatch(/U123|U999|ward/);
    // Re-opening keeps the same key, so hashes stay comparable across restarts.
    const again = await openStore(dir, { logger: silentLogger });
    expect(again.hashId('slack:U123')).toBe(lines[0].user);
    await again.close();
  });
});
