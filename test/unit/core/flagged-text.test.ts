import { afterEach, describe, expect, it } from 'vitest';
import type { OutboundMessage } from '../../../src/core/reply.ts';
import type { BurnedInTextReport, ThreadRef } from '../../../src/core/types.ts';
import { fakePrepare } from '../../helpers/core-doubles.ts';
import { request, setupBot, until } from './setup.ts';

type Bot = Awaited<ReturnType<typeof setupBot>>;
let bot: Bot | undefined;
afterEach(async () => {
  await bot?.close();
  bot = undefined;
});

/** Runs one read whose prepared image reports `report`, with a private channel that records notices. */
async function readWith(mode: 'flag' | 'redact', report: BurnedInTextReport) {
  bot = await setupBot({
    env: { BURNED_IN_TEXT: mode },
    prepare: (bytes, options) =>
      fakePrepare(bytes, options, {
        deid: { removedTags: 0, burnedInAnnotation: true, identityPresent: false, burnedInText: report },
      }),
  });
  const notices: Array<{ thread: ThreadRef; userId: string; message: OutboundMessage }> = [];
  bot.adapter.notifyPrivately = async (thread, userId, message) => {
    notices.push({ thread, userId, message });
  };
  const req = request({ userId: 'U-poster' });
  const outcome = await bot.core.handle(req);
  const jobId = (outcome as { jobId: string }).jobId;
  await until(async () => (await bot!.store.getJob(jobId))?.status === 'succeeded');
  return { notices, req };
}

describe('BURNED_IN_TEXT=flag', () => {
  it('tells only the poster, privately, that text was found in the pixels', async () => {
    const { notices, req } = await readWith('flag', { regions: 3, redacted: 0, keptMarkers: 1 });
    expect(notices).toHaveLength(1);
    expect(notices[0]!.userId).toBe('U-poster');
    expect(notices[0]!.thread).toEqual(req.thread);
    const message = notices[0]!.message;
    expect(message.kind).toBe('info');
    if (message.kind === 'info') expect(message.lines.join(' ')).toContain('2 text region');
  });

  it('stays quiet when only laterality markers were found, or when text was redacted', async () => {
    expect((await readWith('flag', { regions: 1, redacted: 0, keptMarkers: 1 })).notices).toEqual([]);
    await bot?.close();
    bot = undefined;
    expect((await readWith('redact', { regions: 4, redacted: 4, keptMarkers: 0 })).notices).toEqual([]);
  });
});
