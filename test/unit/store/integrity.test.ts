import { appendFile, cp, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AppError, isAppError } from '../../../src/errors.ts';
import { silentLogger } from '../../../src/log.ts';
import { openStore } from '../../../src/store/index.ts';
import type { StoredThread } from '../../../src/store/types.ts';
import { runCliCaptured } from '../../helpers/run-cli.ts';
import { contractJob as job } from '../../helpers/store-contract.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qr-integrity-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const thread = (key: string): StoredThread => ({
  key,
  platform: 'console',
  thread: { channelId: 'c', threadId: key },
  active: true,
  turns: [{ role: 'user', text: 'q' }],
  lastActivityAt: new Date().toISOString(),
});

/** Jobs a, b and thread t in state.json (compacted after every write) and in the backup + journal. */
async function seeded(): Promise<void> {
  const store = await openStore(dir, { logger: silentLogger, compactBytes: 1 });
  await store.putThread(thread('t'));
  await store.insertJob(job('a'));
  await store.insertJob(job('b'));
  await store.close();
}

async function editState(change: (state: Record<string, Record<string, unknown>>) => void): Promise<void> {
  const path = join(dir, 'state.json');
  const state = JSON.parse(await readFile(path, 'utf8'));
  change(state);
  await writeFile(path, JSON.stringify(state));
}

const open = () => openStore(dir, { logger: silentLogger });
const refusal = (): Promise<unknown> =>
  open().then(
    async (store) => {
      await store.close();
      return undefined;
    },
    (error: unknown) => error,
  );

const entryDamage: Array<[string, (state: Record<string, Record<string, unknown>>) => void]> = [
  [
    'jobs.x = null',
    (state) => {
      state.jobs!.x = null;
    },
  ],
  [
    'a job without fields',
    (state) => {
      state.jobs!.y = { id: 'y' };
    },
  ],
  [
    'a null thread',
    (state) => {
      state.threads!.t = null;
    },
  ],
  [
    'a job filed under another id',
    (state) => {
      state.jobs!.z = { ...(state.jobs!.a as object), id: 'a' };
    },
  ],
];

describe('store integrity: entry by entry', () => {
  for (const [name, damage] of entryDamage) {
    it(`falls back to the backup when state.json has ${name}, and starts again after that`, async () => {
      await seeded();
      await editState(damage);
      for (const attempt of [1, 2]) {
        const store = await open();
        expect(
          (await store.listJobs()).map((j) => j.id),
          `start ${attempt}`,
        ).toEqual(['a', 'b']);
        expect(await store.getThread('t')).toMatchObject({ key: 't', turns: [{ text: 'q' }] });
        // Retention runs on every start; it must not trip over anything loaded.
        await expect(store.sweep(3600_000)).resolves.toBeDefined();
        await store.close();
      }
      expect((await readdir(dir)).filter((n) => n.startsWith('state.json.corrupt-'))).toHaveLength(1);
    });

    it(`refuses ${name} with no good backup on every start, until store repair keeps the valid entries`, async () => {
      await seeded();
      await editState(damage);
      await rm(join(dir, 'state.json.bak'));
      for (const attempt of [1, 2]) {
        const error = await refusal();
        expect(isAppError(error, 'STORE_CORRUPT'), `start ${attempt}`).toBe(true);
        expect((error as AppError).userMessage).toContain(join(dir, 'state.json'));
      }
      const repaired = await runCliCaptured(['store', 'repair'], { DATA_DIR: dir });
      expect(repaired.code).toBe(0);
      expect(repaired.out).toMatch(/dropped 1:\n {2}(jobs|threads) [xytz]/);
      const store = await open();
      // Every valid entry is kept.
      expect((await store.listJobs()).map((j) => j.id)).toEqual(['a', 'b']);
      if (name !== 'a null thread') expect(await store.getThread('t')).toBeDefined();
      await store.close();
      expect((await readdir(dir)).some((n) => n.startsWith('state.json.corrupt-'))).toBe(true);
    });
  }

  it('counts a copy moved aside as state that existed: never a silent empty start', async () => {
    await seeded();
    await rename(join(dir, 'state.json'), join(dir, 'state.json.corrupt-2026-12-01T00-00-00-000Z'));
    await rm(join(dir, 'state.json.bak'));
    for (const name of await readdir(dir)) if (name.startsWith('journal-')) await rm(join(dir, name));
    for (const attempt of [1, 2])
      expect(isAppError(await refusal(), 'STORE_CORRUPT'), `start ${attempt}`).toBe(true);
    const discarded = await runCliCaptured(['store', 'repair', '--discard-state'], { DATA_DIR: dir });
    expect(discarded.out).toContain('starts empty');
    const store = await open();
    expect(await store.listJobs()).toEqual([]);
    await store.close();
    // Discarding keeps the old files for the operator; retention deletes them later.
    expect((await readdir(dir)).some((n) => n.startsWith('state.json.corrupt-'))).toBe(true);
  });

  it('cuts a journal line torn by a crash, and refuses a damaged line inside the journal', async () => {
    await seeded();
    const journals = (await readdir(dir)).filter((n) => n.startsWith('journal-')).sort();
    const newest = join(dir, journals.at(-1)!);
    await appendFile(newest, '{"t":"jobs","k":"c","v":{"id":"c"');
    let store = await open();
    expect((await store.listJobs()).map((j) => j.id)).toEqual(['a', 'b']);
    await store.insertJob(job('c'));
    await store.close();
    store = await open();
    expect((await store.listJobs()).map((j) => j.id)).toEqual(['a', 'b', 'c']);
    await store.close();

    await writeFile(newest, `not json\n${await readFile(newest, 'utf8')}`);
    const error = await refusal();
    expect(isAppError(error, 'STORE_CORRUPT')).toBe(true);
    expect((error as AppError).userMessage).toContain(newest);
    const repaired = await runCliCaptured(['store', 'repair'], { DATA_DIR: dir });
    expect(repaired.out).toContain(`journal ${journals.at(-1)}:1`);
    store = await open();
    expect((await store.listJobs()).map((j) => j.id)).toEqual(['a', 'b', 'c']);
    await store.close();
  });
});

describe('a data folder that cannot be used', () => {
  it('is a coded store error naming the folder, never INTERNAL', async () => {
    const notAFolder = join(dir, 'file');
    await writeFile(notAFolder, 'x');
    const error = await openStore(notAFolder, { logger: silentLogger }).catch((e: unknown) => e);
    expect(isAppError(error, 'STORE_IO_ERROR')).toBe(true);
    expect((error as AppError).userMessage).toContain(notAFolder);
  });
});

describe('store migration', () => {
  it('reads a DATA_DIR written by release 0.1 and loses nothing', async () => {
    const fixture = new URL('../../fixtures/store-release-0.1/', import.meta.url).pathname;
    await cp(fixture, dir, { recursive: true });
    const before = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8'));
    for (const attempt of [1, 2]) {
      const store = await open();
      const jobs = await store.listJobs();
      expect(jobs.map((j) => j.id).sort(), `start ${attempt}`).toEqual(['done-1', 'queued-1', 'running-1']);
      expect(await store.getJob('done-1')).toEqual(before.jobs['done-1']);
      expect(await store.getThread('slack:C1:t-done-1')).toEqual(before.threads['slack:C1:t-done-1']);
      expect(await store.getAcknowledgement('done-1')).toEqual(before.acks['done-1']);
      expect(await store.listFeedback()).toEqual(before.feedback);
      const [sha] = Object.keys(before.images);
      expect((await store.loadImage(sha!))?.width).toBe(1);
      expect(
        await store.claimEvent({ platform: 'slack', eventId: 'Ev-queued-1', messageKey: 'x' }, 'other'),
      ).toEqual({ duplicate: true, jobId: 'queued-1' });
      // The audit key is the same, so audit hashes stay comparable.
      expect(store.hashId('slack:U2')).toBe(before.feedback[0].userHash);
      await store.close();
    }
    expect(JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')).version).toBe(2);
  });
});
