import { afterEach, describe, expect, it } from 'vitest';
import type { AttachmentRef } from '../../../src/core/types.ts';
import { resultFor } from '../../helpers/core-doubles.ts';
import { request, setupBot, until } from './setup.ts';

/**
 * One scheduler from download to GPU (issue 14): the fair queue orders preparation as well as reading,
 * so a quiet channel's scan is not prepared after a flooding channel's downloads and decodes.
 */

let bot: Awaited<ReturnType<typeof setupBot>> | undefined;
afterEach(async () => {
  await bot?.close();
  bot = undefined;
});

const scan = (fileId: string): AttachmentRef => ({
  platform: 'console',
  fileId,
  url: `console-upload:${fileId}`,
  name: '',
});

describe('fair preparation', () => {
  it('prepares and reads a quiet channel’s scan within the next two engine slots of a 100-scan flood', async () => {
    const downloads: string[] = [];
    bot = await setupBot({
      hold: true,
      env: { ENGINE_CONCURRENCY: '1', USER_RATE_PER_MIN: '1000' },
      adapter: {
        download: async (attachment) => {
          downloads.push(attachment.fileId);
          return Buffer.from(attachment.fileId);
        },
      },
    });
    const engine = bot.engine;
    for (let i = 0; i < 100; i += 1) {
      const outcome = await bot.core.handle(
        request({
          thread: { channelId: 'flood', threadId: `f${i}` },
          question: `flood ${i}`,
          attachments: [scan(`flood-${i}`)],
        }),
      );
      expect(outcome.kind).toBe('accepted');
    }
    await until(() => engine.pending.length === 1);
    expect(engine.pending[0]!.input.question).toBe('flood 0');

    await bot.core.handle(
      request({
        thread: { channelId: 'quiet', threadId: 'q1' },
        question: 'quiet',
        attachments: [scan('quiet')],
      }),
    );
    // Prepared while the engine still reads the first flood scan, though 99 arrived before it…
    await until(() => downloads.includes('quiet') && bot!.dispatcher.stats().preparing === 0);
    expect(engine.pending[0]!.input.question).toBe('flood 0');
    // …and preparation runs only a few jobs ahead of the engine, not through the whole flood.
    expect(downloads.length).toBeLessThanOrEqual(6);

    const nextSlots: string[] = [];
    for (let slot = 0; slot < 2; slot += 1) {
      const current = engine.pending.shift()!;
      current.resolve(resultFor(current.input));
      await until(() => engine.pending.length === 1);
      nextSlots.push(engine.pending[0]!.input.question);
    }
    expect(nextSlots).toContain('quiet');
    expect(downloads.length).toBeLessThanOrEqual(8);
  });
});
