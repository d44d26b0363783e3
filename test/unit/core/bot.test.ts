import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DISCLAIMER, notes } from '../../../src/core/reply.ts';
import { AppError } from '../../../src/errors.ts';
import { fakePrepare } from '../../helpers/core-doubles.ts';
import { visibleMessages } from '../../helpers/recording-adapter.ts';
import { request, setupBot, until } from './setup.ts';

type Bot = Awaited<ReturnType<typeof setupBot>>;
let bot: Bot | undefined;
afterEach(async () => {
  await bot?.close();
  bot = undefined;
});

const answers = (b: Bot) =>
  visibleMessages(b.adapter.ops).filter((m) => m.message.kind === 'read' || m.message.kind === 'error');

describe('bot core flow', () => {
  it('persists before resolving, then edits the status message in place into one read card', async () => {
    bot = await setupBot();
    const req = request({ question: 'any nodule? patient John Doe' });
    const outcome = await bot.core.handle(req);
    expect(outcome).toMatchObject({ kind: 'accepted', position: 1 });
    const jobId = (outcome as { jobId: string }).jobId;
    const stored = await bot.store.getJob(jobId);
    expect(stored?.status).toMatch(/queued|running/);
    await until(async () => (await bot!.store.getJob(jobId))?.status === 'succeeded');

    const messages = visibleMessages(bot.adapter.ops);
    expect(messages).toHaveLength(1);
    const card = messages[0]!.message;
    expect(card.kind).toBe('read');
    if (card.kind !== 'read') return;
    expect(card.card.findings[0]).toMatchObject({
      confidencePct: 83,
      confidenceSource: 'probe-logprob',
      grounded: true,
    });
    expect(card.card.disclaimer).toBe(DISCLAIMER);
    expect(card.card.model).toBe('test-model');
    expect(card.card.promptVersion).toBe('radiologist@test');
    expect(card.card.isFollowUp).toBe(false);
    // The first op posted a status, later ops edited that same message.
    expect(bot.adapter.ops[1]).toMatchObject({
      op: 'post',
      message: { kind: 'status', state: 'queued', position: 1 },
    });
    const reactions = () =>
      bot!.adapter.ops.filter((op) => op.op === 'react').map((op) => op.op === 'react' && op.reaction);
    await until(() => reactions().length === 2);
    expect(reactions()).toEqual(['received', 'done']);
    expect(bot.adapter.ops.some((op) => op.op === 'preview')).toBe(true);
    const done = await bot.store.getJob(jobId);
    expect(done?.postedMessageId).toBe(messages[0]!.messageId);

    const audit = await readFile(join(bot.dataDir, 'audit.jsonl'), 'utf8');
    const line = JSON.parse(audit.trim().split('\n').at(-1)!);
    expect(line).toMatchObject({
      event: 'read',
      model: 'test-model',
      urgency: 'routine',
      platform: 'console',
    });
    expect(line.imageSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(line.user).toMatch(/^[0-9a-f]{24}$/);
    expect(audit).not.toContain('U1');
    expect(audit).not.toContain('radiology');
    expect(audit).not.toContain('John');
    expect(audit).not.toContain('nodule?');
  });

  it('dedupes by event id and by message key: one job, one engine call', async () => {
    bot = await setupBot();
    const req = request();
    const first = await bot.core.handle(req);
    const again = await bot.core.handle(req);
    const sameMessageOtherEvent = await bot.core.handle({ ...req, eventId: 'other-event-id' });
    expect(first.kind).toBe('accepted');
    expect(again).toEqual({ kind: 'duplicate', jobId: (first as { jobId: string }).jobId });
    expect(sameMessageOtherEvent).toEqual({ kind: 'duplicate', jobId: (first as { jobId: string }).jobId });
    await until(() => answers(bot!).length === 1);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(bot.engine.calls).toHaveLength(1);
    expect(answers(bot)).toHaveLength(1);
  });

  it('does not ack what it could not store: the redelivery is handled afresh', async () => {
    bot = await setupBot();
    const insert = bot.store.insertJob;
    bot.store.insertJob = async () => {
      throw new Error('ENOSPC: no space left on device');
    };
    const req = request();
    await expect(bot.core.handle(req)).rejects.toThrow(/ENOSPC/);
    bot.store.insertJob = insert;
    const again = await bot.core.handle(req);
    expect(again.kind).toBe('accepted');
    await until(() => answers(bot!).length === 1);
  });

  it('dedupes concurrent deliveries of one message', async () => {
    bot = await setupBot();
    const req = request();
    const outcomes = await Promise.all([
      bot.core.handle(req),
      bot.core.handle({ ...req, eventId: 'app_mention-event' }),
    ]);
    expect(outcomes.map((o) => o.kind).sort()).toEqual(['accepted', 'duplicate']);
  });

  it('refuses channels and users outside the allow-lists', async () => {
    bot = await setupBot({ env: { ALLOWED_CHANNELS: 'ed-oncall', ALLOWED_USERS: 'U1' } });
    const outcome = await bot.core.handle(request());
    expect(outcome).toMatchObject({ kind: 'refused', code: 'NOT_ALLOWED' });
    const ok = await bot.core.handle(request({ thread: { channelId: 'ed-oncall', threadId: 't1' } }));
    expect(ok.kind).toBe('accepted');
    const otherUser = await bot.core.handle(
      request({ userId: 'U2', thread: { channelId: 'ed-oncall', threadId: 't2' } }),
    );
    expect(otherUser).toMatchObject({ kind: 'refused', code: 'NOT_ALLOWED' });
  });

  it('tells a mention without an image how to attach one, once per message; a thread reply is not ours', async () => {
    bot = await setupBot({ platform: 'slack' });
    const bare = request({ platform: 'slack', attachments: [] });
    expect(await bot.core.handle(bare)).toEqual({
      kind: 'ignored',
      reason: 'no-image',
      reply: notes.attachAnImage('slack'),
    });
    // Slack delivers the same message again as `message`: no second hint.
    expect(await bot.core.handle({ ...bare, eventId: 'other-copy' })).toEqual({
      kind: 'ignored',
      reason: 'no-image',
    });
    const reply = request({ platform: 'slack', attachments: [], trigger: 'reply' });
    expect(await bot.core.handle(reply)).toEqual({ kind: 'ignored', reason: 'not-for-bot' });
    // Nothing was claimed for the thread reply: the same message as a mention still counts.
    expect(await bot.core.handle({ ...reply, trigger: 'mention' })).toMatchObject({
      kind: 'ignored',
      reply: {},
    });
  });

  it('reads one of two copies of a message that arrive together, and says "already on it" to a second menu use', async () => {
    bot = await setupBot();
    const first = request();
    const [a, b] = await Promise.all([
      bot.core.handle(first),
      bot.core.handle({ ...first, eventId: 'second-copy' }),
    ]);
    expect([a.kind, b.kind].sort()).toEqual(['accepted', 'duplicate']);
    expect(b.reply).toBeUndefined();
    const again = await bot.core.handle({ ...first, eventId: 'menu-use', trigger: 'menu' });
    expect(again).toMatchObject({ kind: 'duplicate', reply: notes.alreadyReading });
  });

  it('maps reactions on a card to votes and acknowledgements, and ignores other emoji', async () => {
    bot = await setupBot();
    const outcome = (await bot.core.handle(request())) as { jobId: string };
    await until(async () => (await bot!.store.getJob(outcome.jobId))?.status === 'succeeded');
    const react = (emoji: string) =>
      bot!.core.react({ platform: 'console', jobId: outcome.jobId, userId: 'U5', emoji });
    expect(await react('🎉')).toBeUndefined();
    expect(await react('👍')).toMatchObject({ done: true });
    expect(await react('✅')).toMatchObject({ done: true, at: expect.any(String) });
    expect((await bot.store.listFeedback()).map((entry) => entry.vote)).toEqual(['up']);
  });

  it('answers a follow-up with the stored image and the earlier turns, without downloading again', async () => {
    let downloads = 0;
    bot = await setupBot({
      adapter: {
        download: async (attachment) => {
          downloads += 1;
          return Buffer.from(attachment.fileId);
        },
      },
    });
    const first = request();
    await bot.core.handle(first);
    await until(() => answers(bot!).length === 1);
    // A plain reply in the thread (no mention) counts because the bot is reading that thread.
    const follow = await bot.core.handle(
      request({ thread: first.thread, attachments: [], question: 'how big is it?', trigger: 'reply' }),
    );
    expect(follow.kind).toBe('followup');
    await until(() => answers(bot!).length === 2);
    expect(downloads).toBe(1);
    const [a, b] = bot.engine.calls;
    expect(b!.image.sha256).toBe(a!.image.sha256);
    expect(b!.history).toHaveLength(2);
    expect(b!.history[0]).toEqual({ role: 'user', text: 'any nodule?' });
    expect(b!.history[1]!.role).toBe('assistant');
    expect(b!.history[1]!.text).toContain('nodule');
    const last = answers(bot).at(-1)!.message;
    expect(last.kind === 'read' && last.card.isFollowUp).toBe(true);
  });

  it('shows coded input errors to the poster with the user message only', async () => {
    bot = await setupBot({
      prepare: async () => {
        throw new AppError('INPUT_CORRUPT', 'dicom-parser: offset 0x1234 past end at /tmp/Doe^John.dcm');
      },
    });
    const outcome = await bot.core.handle(request());
    await until(() => answers(bot!).length === 1);
    const message = answers(bot)[0]!.message;
    expect(message).toEqual({
      kind: 'error',
      jobId: (outcome as { jobId: string }).jobId,
      code: 'INPUT_CORRUPT',
      text: 'The file is damaged and could not be decoded.',
    });
    await until(
      async () => (await bot!.store.getJob((outcome as { jobId: string }).jobId))?.status === 'failed',
    );
    await until(() => bot!.adapter.ops.some((op) => op.op === 'react' && op.reaction === 'failed'));
    expect(bot.engine.calls).toHaveLength(0);
  });

  it('refuses an identified DICOM on Discord (DISCORD_PHI=refuse) and allows it when configured', async () => {
    const identified = (bytes: Uint8Array) =>
      fakePrepare(
        bytes,
        {},
        {
          deid: { removedTags: 30, burnedInAnnotation: false, identityPresent: true },
          source: { kind: 'dicom', rows: 512, columns: 512, frames: 1, frameIndex: 1 },
        },
      );
    bot = await setupBot({ platform: 'discord', prepare: identified });
    await bot.core.handle(request({ platform: 'discord' }));
    await until(() => answers(bot!).length === 1);
    expect(answers(bot)[0]!.message).toMatchObject({ kind: 'error', code: 'PHI_PRESENT' });
    expect(bot.engine.calls).toHaveLength(0);
    await bot.close();

    bot = await setupBot({ platform: 'discord', prepare: identified, env: { DISCORD_PHI: 'allow' } });
    await bot.core.handle(request({ platform: 'discord' }));
    await until(() => answers(bot!).length === 1);
    expect(answers(bot)[0]!.message.kind).toBe('read');
  });

  it('lets only the requester cancel, and the cancellation is the one answer', async () => {
    bot = await setupBot({ hold: true });
    const outcome = (await bot.core.handle(request())) as { jobId: string };
    await until(() => bot!.engine.pending.length === 1);
    const cancel = (userId: string) =>
      bot!.core.act({ kind: 'cancel', platform: 'console', jobId: outcome.jobId, userId });
    expect(await cancel('U2')).toMatchObject({ done: false, reply: { title: 'Nothing to cancel' } });
    expect(await cancel('U1')).toMatchObject({ done: true });
    await until(async () => (await bot!.store.getJob(outcome.jobId))?.status === 'cancelled');
    expect(answers(bot)).toHaveLength(1);
    expect(answers(bot)[0]!.message).toMatchObject({ kind: 'error', code: 'CANCELLED' });
  });

  it('cancels a queued request when its poster replies "cancel" in the thread', async () => {
    bot = await setupBot({ hold: true });
    const first = (await bot.core.handle(request())) as { jobId: string };
    const second = request();
    const queued = (await bot.core.handle(second)) as { jobId: string };
    await until(() => bot!.engine.pending.length === 1);
    const reply = await bot.core.handle(
      request({ thread: second.thread, attachments: [], question: 'cancel' }),
    );
    expect(reply.kind).toBe('ignored');
    await until(async () => (await bot!.store.getJob(queued.jobId))?.status === 'cancelled');
    expect(reply.reply).toBeUndefined();
    bot.engine.releaseAll();
    await until(async () => (await bot!.store.getJob(first.jobId))?.status === 'succeeded');
    expect(bot.engine.calls).toHaveLength(1);
    // Issue 18: "cancel" once the thread's read is finished says so instead of staying silent.
    const late = await bot.core.handle(
      request({ thread: second.thread, attachments: [], question: 'cancel' }),
    );
    expect(late).toMatchObject({ kind: 'ignored', reply: { title: 'Nothing to cancel' } });
    expect(late.reply?.kind === 'info' && late.reply.lines.join(' ')).toMatch(/finished/);
  });

  it('records an acknowledgement, shows it on the card and audits it', async () => {
    bot = await setupBot();
    const outcome = (await bot.core.handle(request())) as { jobId: string };
    await until(async () => (await bot!.store.getJob(outcome.jobId))?.status === 'succeeded');
    const acknowledge = (userId: string) =>
      bot!.core.act({ kind: 'acknowledge', platform: 'console', jobId: outcome.jobId, userId });
    const ack = await acknowledge('U7');
    expect(ack.at).toMatch(/^\d{4}-/);
    const card = answers(bot)[0]!.message;
    expect(card.kind === 'read' && card.card.acknowledgedBy).toEqual({ userId: 'U7', at: ack.at });
    expect(await acknowledge('U8')).toEqual({ done: true, at: ack.at });
    expect(
      await bot.core.act({ kind: 'acknowledge', platform: 'console', jobId: 'gone', userId: 'U7' }),
    ).toMatchObject({
      done: false,
      reply: { kind: 'error', text: 'That read can no longer be acknowledged.' },
    });
    const audit = await readFile(join(bot.dataDir, 'audit.jsonl'), 'utf8');
    expect(audit).toContain('"event":"acknowledged"');
    expect(audit).not.toContain('U7');
  });

  it('stores feedback for calibration under a hashed user', async () => {
    bot = await setupBot();
    const outcome = (await bot.core.handle(request())) as { jobId: string };
    await until(async () => (await bot!.store.getJob(outcome.jobId))?.status === 'succeeded');
    const vote = await bot.core.act({
      kind: 'down',
      platform: 'console',
      jobId: outcome.jobId,
      userId: 'U3',
    });
    expect(vote).toMatchObject({
      done: true,
      reply: { title: 'Thanks — your 👎 was recorded for this read.' },
    });
    const [entry] = await bot.store.listFeedback();
    expect(entry).toMatchObject({ jobId: outcome.jobId, vote: 'down', model: 'test-model' });
    expect(entry!.userHash).not.toContain('U3');
  });

  it('words help with the model card, queue and disclaimer; on Discord it warns there is no BAA', async () => {
    bot = await setupBot();
    const command = (platform: 'discord' | 'slack', kind: 'help' | 'status' | 'model' = 'help') =>
      bot!.core.command({ kind, platform, channelId: 'C1', userId: 'U1' });
    const help = command('discord');
    expect(help.kind).toBe('info');
    const text = help.kind === 'info' ? help.lines.join('\n') : '';
    expect(text).toContain('test-model');
    expect(text).toContain('radiologist@test');
    expect(text).toContain('1024 px');
    expect(text).toContain(DISCLAIMER);
    expect(text).toMatch(/Discord has no business associate agreement/);
    const slack = command('slack');
    expect(slack.kind === 'info' && slack.lines.join('\n')).not.toMatch(/Discord/);
    expect(command('slack', 'status')).toMatchObject({ kind: 'info', title: 'quickread queue' });
    expect(command('slack', 'model')).toMatchObject({ kind: 'info', title: 'quickread model card' });
  });

  it('refuses a user over USER_RATE_PER_MIN and a full queue with an ETA', async () => {
    bot = await setupBot({ hold: true, env: { USER_RATE_PER_MIN: '2', QUEUE_MAX: '2' } });
    expect((await bot.core.handle(request())).kind).toBe('accepted');
    await until(() => bot!.engine.pending.length === 1);
    expect((await bot.core.handle(request())).kind).toBe('accepted');
    expect(await bot.core.handle(request())).toMatchObject({ kind: 'refused', code: 'RATE_LIMITED' });
    expect((await bot.core.handle(request({ userId: 'U2' }))).kind).toBe('accepted');
    const full = await bot.core.handle(request({ userId: 'U3' }));
    expect(full).toMatchObject({ kind: 'refused', code: 'QUEUE_FULL' });
    expect(full.reply).toMatchObject({ kind: 'error', text: expect.stringMatching(/about \d+ (s|min)/) });
  });

  it('tells each waiting requester once that the engine is down, then resumes by itself', async () => {
    bot = await setupBot();
    bot.engine.setDown(true);
    const a = (await bot.core.handle(request())) as { jobId: string };
    const b = (await bot.core.handle(request())) as { jobId: string };
    await until(
      () =>
        visibleMessages(bot!.adapter.ops).filter(
          (m) => m.message.kind === 'status' && m.message.state === 'waiting-engine',
        ).length === 2,
    );
    const downNotices = bot.adapter.ops.filter(
      (op) =>
        (op.op === 'update' || op.op === 'post') &&
        op.message.kind === 'status' &&
        op.message.state === 'waiting-engine',
    );
    expect(downNotices).toHaveLength(2);
    bot.engine.setDown(false);
    // Both resume; they run side by side, so either may finish first.
    await until(async () => {
      const jobs = await Promise.all([bot!.store.getJob(a.jobId), bot!.store.getJob(b.jobId)]);
      return jobs.every((job) => job?.status === 'succeeded');
    });
    expect(answers(bot)).toHaveLength(2);
  });
});
