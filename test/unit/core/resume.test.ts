import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { toReadCard } from '../../../src/core/card.ts';
import { AppError } from '../../../src/errors.ts';
import type { StoredJob } from '../../../src/store/types.ts';
import { fakePrepare, resultFor } from '../../helpers/core-doubles.ts';
import { visibleMessages } from '../../helpers/recording-adapter.ts';
import { request, setupBot, until } from './setup.ts';

let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'qr-resume-'));
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

const answers = (ops: Parameters<typeof visibleMessages>[0]) =>
  visibleMessages(ops).filter((m) => m.message.kind === 'read' || m.message.kind === 'error');

async function storedJob(id: string, overrides: Partial<StoredJob>): Promise<StoredJob> {
  const card = toReadCard(
    id,
    resultFor({ image: await fakePrepare(Buffer.from(id)), question: 'q', history: [] }),
    {
      width: 1,
      height: 1,
      tokens: 1,
      deid: { removedTags: 0, burnedInAnnotation: false, identityPresent: false },
    },
    false,
  );
  return {
    id,
    eventId: `e-${id}`,
    messageKey: `console:radiology:${id}`,
    platform: 'console',
    thread: { channelId: 'radiology', threadId: id },
    threadKey: `console:radiology:${id}`,
    userId: 'U1',
    userMessageId: id,
    status: 'running',
    attempts: 1,
    priority: 0,
    createdAt: new Date().toISOString(),
    isFollowUp: false,
    request: {
      question: 'q',
      attachments: [{ platform: 'console', fileId: id, url: 'x', name: 'n' }],
      receivedAt: '',
    },
    answer: { kind: 'read', card },
    ...overrides,
  };
}

describe('resume on start', () => {
  it('answers a job that was queued when the process stopped, once, in its status message', async () => {
    const first = await setupBot({ dataDir, hold: true });
    const req = request();
    const outcome = (await first.core.handle(req)) as { jobId: string };
    await until(() => first.engine.pending.length === 1);
    const statusId = (await first.store.getJob(outcome.jobId))?.statusMessageId;
    expect(statusId).toBeDefined();
    await first.close(false);

    const second = await setupBot({ dataDir });
    await until(async () => (await second.store.getJob(outcome.jobId))?.status === 'succeeded');
    // A platform redelivering the event after the restart is recognised.
    expect((await second.core.handle(req)).kind).toBe('duplicate');
    const shown = answers(second.adapter.ops);
    expect(shown).toHaveLength(0); // the restarted adapter only edited: no new message
    const edits = second.adapter.ops.filter((op) => op.op === 'update' && op.messageId === statusId);
    expect(edits.at(-1)).toMatchObject({ message: { kind: 'read' } });
    expect(second.adapter.ops.filter((op) => op.op === 'post')).toHaveLength(0);
    expect(second.engine.calls).toHaveLength(1);
    await second.close(false);
  });

  it('marks a posted-but-not-marked job done without posting again', async () => {
    const bot = await setupBot({ dataDir, start: false });
    await bot.store.insertJob(await storedJob('posted', { statusMessageId: 'm1', postedMessageId: 'm1' }));
    await bot.core.start();
    await until(async () => (await bot.store.getJob('posted'))?.status === 'succeeded');
    expect(bot.adapter.ops.filter((op) => op.op === 'post' || op.op === 'update')).toHaveLength(0);
    expect(bot.engine.calls).toHaveLength(0);
    await bot.close(false);
  });

  it('posts a stored answer that was never shown, without asking the engine again', async () => {
    const bot = await setupBot({ dataDir, start: false });
    await bot.store.insertJob(await storedJob('answered', { statusMessageId: 'status-1' }));
    await bot.core.start();
    await until(async () => (await bot.store.getJob('answered'))?.status === 'succeeded');
    const writes = bot.adapter.ops.filter((op) => op.op === 'post' || op.op === 'update');
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatchObject({ op: 'update', messageId: 'status-1', message: { kind: 'read' } });
    expect(bot.engine.calls).toHaveLength(0);
    expect((await bot.store.getJob('answered'))?.postedMessageId).toBe('status-1');
    await bot.close(false);
  });

  it('gives up on a job that keeps getting interrupted, with one visible error', async () => {
    const bot = await setupBot({ dataDir, start: false });
    await bot.store.insertJob(await storedJob('poison', { attempts: 3, answer: undefined }));
    await bot.core.start();
    await until(async () => (await bot.store.getJob('poison'))?.status === 'failed');
    const shown = answers(bot.adapter.ops);
    expect(shown).toHaveLength(1);
    expect(shown[0]!.message).toMatchObject({ kind: 'error', code: 'INTERNAL' });
    expect(bot.engine.calls).toHaveLength(0);
    await bot.close(false);
  });

  it('survives a platform that refuses while resuming: logs the code, tries again, posts once', async () => {
    let refusals = 0;
    const bot = await setupBot({
      dataDir,
      start: false,
      adapter: {
        before: () => {
          if (refusals < 2) {
            refusals += 1;
            throw new AppError('CHAT_API_FAILED', 'channel_not_found');
          }
        },
      },
    });
    await bot.store.insertJob(await storedJob('refused', { statusMessageId: 'status-1' }));
    await bot.store.insertJob(await storedJob('poison', { attempts: 3, answer: undefined }));
    await bot.core.start();
    await until(async () => (await bot.store.getJob('refused'))?.status === 'succeeded');
    await until(async () => (await bot.store.getJob('poison'))?.status === 'failed');
    expect(refusals).toBe(2);
    // Exactly one answer each: the read edited into its status message, the error posted.
    const reads = bot.adapter.ops.filter((op) => op.op === 'update' && op.messageId === 'status-1');
    expect(reads).toHaveLength(1);
    expect(reads[0]).toMatchObject({ message: { kind: 'read' } });
    expect(answers(bot.adapter.ops).map((m) => m.message.kind)).toEqual(['error']);
    await bot.close(false);
  });

  it('leaves a job of a platform no longer configured owed, without crashing the start', async () => {
    const bot = await setupBot({ dataDir, start: false });
    await bot.store.insertJob(
      await storedJob('gone', { platform: 'slack', threadKey: 'slack:radiology:gone', statusMessageId: 's' }),
    );
    await bot.store.insertJob(await storedJob('here', { statusMessageId: 'status-2' }));
    await bot.core.start();
    await until(async () => (await bot.store.getJob('here'))?.status === 'succeeded');
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Still owed: answered by a later start that has the Slack adapter again.
    expect((await bot.store.getJob('gone'))?.status).toBe('running');
    await bot.close(false);
  });
});
