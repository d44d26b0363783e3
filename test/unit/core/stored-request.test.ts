import { afterEach, describe, expect, it } from 'vitest';
import { allStateText } from '../../helpers/state-on-disk.ts';
import { request, setupBot, until } from './setup.ts';

type Bot = Awaited<ReturnType<typeof setupBot>>;
let bot: Bot | undefined;
afterEach(async () => {
  await bot?.close();
  bot = undefined;
});

describe('what the store keeps of a request', () => {
  it('never writes the attachment file name (it often names the patient) to the state file', async () => {
    bot = await setupBot();
    const req = request();
    req.attachments = [{ ...req.attachments[0]!, name: 'CANARY-DOE^JANE_19450101.dcm' }];
    const outcome = await bot.core.handle(req);
    const jobId = (outcome as { jobId: string }).jobId;
    await until(async () => (await bot!.store.getJob(jobId))?.status === 'succeeded');
    await bot.store.close();
    const state = await allStateText(bot.dataDir);
    expect(state).toContain(jobId);
    expect(state).not.toContain('CANARY-DOE');
  });
});

describe('a message delivered twice, once without its file', () => {
  it('reads the copy that carries the file after ignoring the one that did not', async () => {
    bot = await setupBot();
    const withFile = request();
    const bare = { ...withFile, eventId: `${withFile.eventId}-mention`, attachments: [] };
    expect(await bot.core.handle(bare)).toMatchObject({ kind: 'ignored', reason: 'no-image' });
    const outcome = await bot.core.handle(withFile);
    expect(outcome).toMatchObject({ kind: 'accepted' });
    const jobId = (outcome as { jobId: string }).jobId;
    await until(async () => (await bot!.store.getJob(jobId))?.status === 'succeeded');
    // And the same copy again is still a duplicate.
    expect(await bot.core.handle(withFile)).toMatchObject({ kind: 'duplicate', jobId });
  });
});

describe('ALLOWED_USERS on actions', () => {
  it('refuses Acknowledge and feedback from a user not on the list, and records them for one who is', async () => {
    bot = await setupBot({ env: { ALLOWED_USERS: 'U1' } });
    const outcome = await bot.core.handle(request({ userId: 'U1' }));
    const jobId = (outcome as { jobId: string }).jobId;
    await until(async () => (await bot!.store.getJob(jobId))?.status === 'succeeded');
    const act = (kind: 'acknowledge' | 'down', userId: string) =>
      bot!.core.act({ kind, platform: 'console', jobId, userId });
    const refused = { done: false, reply: { kind: 'error', code: 'NOT_ALLOWED' } };
    expect(await act('acknowledge', 'U-stranger')).toMatchObject(refused);
    expect(await act('down', 'U-stranger')).toMatchObject(refused);
    expect(await bot.store.getAcknowledgement(jobId)).toBeUndefined();
    expect(await act('acknowledge', 'U1')).toMatchObject({ done: true, at: expect.any(String) });
    expect(
      bot.core.command({ kind: 'help', platform: 'console', channelId: 'c', userId: 'U-stranger' }),
    ).toMatchObject({ kind: 'error', code: 'NOT_ALLOWED' });
  });
});
