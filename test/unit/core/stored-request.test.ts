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
    await expect(bot.core.acknowledge(jobId, 'U-stranger')).rejects.toMatchObject({ code: 'NOT_ALLOWED' });
    await expect(bot.core.feedback(jobId, 'U-stranger', 'down')).rejects.toMatchObject({
      code: 'NOT_ALLOWED',
    });
    expect(await bot.store.getAcknowledgement(jobId)).toBeUndefined();
    expect(await bot.core.acknowledge(jobId, 'U1')).toMatchObject({ at: expect.any(String) });
  });
});
