import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PreparedImage } from '../../src/core/types.ts';
import type { Store, StoredJob, StoredThread } from '../../src/store/types.ts';

/**
 * The behaviour every Store must have (src/store/types.ts), run against the file store and the Redis
 * store alike. `open` gives a fresh, empty store; `reopen` closes it and opens the same data again (a
 * restart, or another process on the same backing).
 */
export interface StoreUnderTest {
  store: Store;
  reopen(): Promise<Store>;
  cleanup(): Promise<void>;
}

export const contractJob = (id: string, overrides: Partial<StoredJob> = {}): StoredJob => ({
  id,
  eventId: `e-${id}`,
  messageKey: `console:c:${id}`,
  platform: 'console',
  thread: { channelId: 'c', threadId: id },
  threadKey: `console:c:${id}`,
  userId: 'U1',
  userMessageId: id,
  status: 'queued',
  attempts: 0,
  priority: 0,
  createdAt: new Date().toISOString(),
  isFollowUp: false,
  request: { question: 'q', attachments: [], receivedAt: new Date().toISOString() },
  ...overrides,
});

export const contractImage = (seed: string): PreparedImage => {
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

export function describeStoreContract(name: string, open: () => Promise<StoreUnderTest>, skip = false): void {
  describe.skipIf(skip)(`Store contract: ${name}`, () => {
    let subject: StoreUnderTest;
    let store: Store;
    beforeEach(async () => {
      subject = await open();
      store = subject.store;
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    it('claims an event once by event id or message key, remembers both names, and forgets a released claim', async () => {
      const keys = { platform: 'slack' as const, eventId: 'Ev1', messageKey: 'slack:C1:1.1' };
      expect(await store.claimEvent(keys, 'job-1')).toEqual({ duplicate: false });
      expect(await store.claimEvent({ ...keys, eventId: 'Ev2' }, 'job-2')).toEqual({
        duplicate: true,
        jobId: 'job-1',
      });
      // Ev2 was remembered under the first claim: a third delivery as Ev2 with a new message key is caught.
      expect(
        await store.claimEvent({ eventId: 'Ev2', platform: 'slack', messageKey: 'slack:C1:9.9' }),
      ).toEqual({
        duplicate: true,
        jobId: 'job-1',
      });
      expect(await store.claimEvent({ ...keys, platform: 'discord' }, 'job-4')).toEqual({ duplicate: false });
      const other = { platform: 'console' as const, eventId: 'X', messageKey: 'console:c:x' };
      expect(await store.claimEvent(other, 'job-5')).toEqual({ duplicate: false });
      await store.insertJob(contractJob('job-5'));
      await store.releaseEvent(other);
      expect(await store.claimEvent(other, 'job-6')).toEqual({ duplicate: false });
    });

    it('stores jobs durably: get, patch, list by status in creation order, across a restart', async () => {
      await store.insertJob(contractJob('b', { createdAt: '2026-01-01T00:00:02.000Z' }));
      await store.insertJob(contractJob('a', { createdAt: '2026-01-01T00:00:01.000Z' }));
      await store.insertJob(contractJob('c', { createdAt: '2026-01-01T00:00:03.000Z', status: 'running' }));
      expect(await store.updateJob('missing', { status: 'failed' })).toBeUndefined();
      const patched = await store.updateJob('b', { status: 'running', attempts: 1 });
      expect(patched).toMatchObject({ id: 'b', status: 'running', attempts: 1, userId: 'U1' });
      store = await subject.reopen();
      expect((await store.listJobs()).map((job) => job.id)).toEqual(['a', 'b', 'c']);
      expect((await store.listJobs(['running'])).map((job) => job.id)).toEqual(['b', 'c']);
      expect(await store.getJob('b')).toMatchObject({ status: 'running', attempts: 1 });
      expect(await store.getJob('nope')).toBeUndefined();
    });

    it('returns copies: changing a returned job does not change the stored one', async () => {
      await store.insertJob(contractJob('a'));
      const first = (await store.getJob('a'))!;
      first.status = 'failed';
      expect((await store.getJob('a'))!.status).toBe('queued');
    });

    it('updates one thread from many concurrent callers without losing a change', async () => {
      const key = 'console:c:t1';
      const thread: StoredThread = {
        key,
        platform: 'console',
        thread: { channelId: 'c', threadId: 't1' },
        active: true,
        turns: [],
        lastActivityAt: new Date().toISOString(),
      };
      await store.putThread(thread);
      await Promise.all(
        Array.from({ length: 12 }, (_, index) =>
          store.updateThread(key, (current) => ({
            ...current!,
            turns: [...current!.turns, { role: 'user', text: `q${index}`, at: new Date().toISOString() }],
          })),
        ),
      );
      // `change` returning undefined leaves the thread alone.
      await store.updateThread(key, () => undefined);
      store = await subject.reopen();
      const stored = (await store.getThread(key))!;
      expect(stored.turns.map((turn) => turn.text).sort()).toEqual(
        Array.from({ length: 12 }, (_, index) => `q${index}`).sort(),
      );
      expect(await store.getThread('console:c:none')).toBeUndefined();
    });

    it('saves a prepared image once and loads the same bytes and facts, across a restart', async () => {
      const image = contractImage('one');
      const ref = await store.saveImage(image);
      expect(ref).toBe(image.sha256);
      expect(await store.saveImage(image)).toBe(ref);
      store = await subject.reopen();
      const loaded = (await store.loadImage(ref))!;
      expect(Buffer.from(loaded.png).equals(image.png)).toBe(true);
      expect(loaded).toMatchObject({ width: 64, height: 64, meta: { modality: 'CR' }, sha256: ref });
      expect(await store.loadImage('0'.repeat(64))).toBeUndefined();
    });

    it('keeps acknowledgements and feedback', async () => {
      await store.acknowledge({ jobId: 'j1', userId: 'U2', at: '2026-01-01T00:00:00.000Z' });
      await store.addFeedback({ jobId: 'j1', userHash: 'h', vote: 'up', at: '2026-01-01T00:00:00.000Z' });
      store = await subject.reopen();
      expect(await store.getAcknowledgement('j1')).toEqual({
        jobId: 'j1',
        userId: 'U2',
        at: '2026-01-01T00:00:00.000Z',
      });
      expect(await store.getAcknowledgement('j2')).toBeUndefined();
      expect((await store.listFeedback()).map((entry) => entry.vote)).toEqual(['up']);
    });

    it('hashes identifiers with a stable key and audits without raw ids', async () => {
      const hash = store.hashId('slack:U123');
      expect(hash).toMatch(/^[0-9a-f]{24}$/);
      expect(hash).not.toContain('U123');
      await store.audit({ event: 'read', jobId: 'j1', userId: 'U123', channelId: 'C9', platform: 'slack' });
      store = await subject.reopen();
      expect(store.hashId('slack:U123')).toBe(hash);
      expect(store.health()).toEqual({ ok: true });
    });

    it('sweeps nothing that live work needs', async () => {
      const image = contractImage('live');
      const ref = await store.saveImage(image);
      await store.insertJob(contractJob('live', { status: 'running', imageRef: ref }));
      await store.sweep(60 * 60_000);
      expect(await store.getJob('live')).toMatchObject({ status: 'running' });
      expect(await store.loadImage(ref)).toBeDefined();
    });
  });
}
