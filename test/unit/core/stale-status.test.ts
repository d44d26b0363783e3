import { afterEach, describe, expect, it } from 'vitest';
import { visibleMessages } from '../../helpers/recording-adapter.ts';
import { request, setupBot, until } from './setup.ts';

type Bot = Awaited<ReturnType<typeof setupBot>>;
let bot: Bot | undefined;
afterEach(async () => {
  await bot?.close();
  bot = undefined;
});

/** A network failure the way a chat client reports one while editing. */
const networkDown = () => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });

describe('a status message whose answer had to be posted anew (issue 16)', () => {
  it('is edited to point at the read below instead of staying at "reading…"', async () => {
    let refuseEdits = false;
    bot = await setupBot({
      adapter: {
        before: (op, message) => {
          // The three edits of the status into the read fail; the later edit of the status succeeds.
          if (op === 'update' && message?.kind === 'read') {
            refuseEdits = true;
            throw networkDown();
          }
        },
      },
    });
    const outcome = await bot.core.handle(request());
    const jobId = (outcome as { jobId: string }).jobId;
    await until(async () => (await bot!.store.getJob(jobId))?.status === 'succeeded', 10_000);

    expect(refuseEdits).toBe(true);
    const messages = visibleMessages(bot.adapter.ops);
    expect(messages.map((m) => m.message.kind)).toEqual(['info', 'read']);
    expect(messages[0]!.message).toEqual({ kind: 'info', title: 'The read is below.', lines: [] });
    expect(messages.some((m) => m.message.kind === 'status')).toBe(false);
    expect((await bot.store.getJob(jobId))?.postedMessageId).toBe(messages[1]!.messageId);
  });

  it('still ends the job with the read when that last edit fails too', async () => {
    bot = await setupBot({
      adapter: {
        before: (op, message) => {
          if (op === 'update' && (message?.kind === 'read' || message?.kind === 'info')) throw networkDown();
        },
      },
    });
    const outcome = await bot.core.handle(request());
    const jobId = (outcome as { jobId: string }).jobId;
    await until(async () => (await bot!.store.getJob(jobId))?.status === 'succeeded', 10_000);

    const reads = visibleMessages(bot.adapter.ops).filter((m) => m.message.kind === 'read');
    expect(reads).toHaveLength(1);
    expect((await bot.store.getJob(jobId))?.postedMessageId).toBe(reads[0]!.messageId);
  });
});
