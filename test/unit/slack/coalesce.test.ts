import type { WebClient } from '@slack/web-api';
import { describe, expect, it } from 'vitest';
import { createOutbound } from '../../../adapters/slack/outbound.ts';
import { createChannelPacer } from '../../../adapters/slack/pacing.ts';
import type { OutboundMessage } from '../../../src/core/reply.ts';
import { silentLogger } from '../../../src/log.ts';

const status = (position: number): OutboundMessage => ({
  kind: 'status',
  jobId: 'j',
  state: 'queued',
  position,
});
const failure: OutboundMessage = { kind: 'error', jobId: 'j', code: 'ENGINE_TIMEOUT', text: 'took too long' };

describe('slack status edits in a busy channel', () => {
  it('coalesces waiting edits of one message and lets the answer jump the queue', async () => {
    const calls: Array<{ ts: string; text: string }> = [];
    const client = {
      chat: {
        update: async (args: { ts: string; text: string }) => {
          calls.push({ ts: args.ts, text: args.text });
          return { ok: true };
        },
      },
    } as unknown as WebClient;
    const pacer = createChannelPacer({ minTimeMs: 80 });
    const outbound = createOutbound({ client, pacer, fetch, logger: silentLogger, uploadOrigins: [] });
    const thread = { channelId: 'C1', threadId: '1.0' };
    const a = { thread, messageId: '100.1' };
    const b = { thread, messageId: '200.2' };
    const edits = [
      outbound.update(a, status(3)),
      outbound.update(b, status(4)),
      outbound.update(a, status(2)),
      outbound.update(a, status(1)),
      outbound.update(a, failure),
    ];
    await Promise.all(edits);
    await pacer.stop();
    const forA = calls.filter((call) => call.ts === '100.1');
    // Four edits of one message, but waiting ones collapse: at most the first plus the answer go out,
    // and the answer is what the message shows last.
    expect(forA.length).toBeLessThanOrEqual(2);
    expect(forA.at(-1)!.text).toContain('took too long');
    // The answer went out before the other message's waiting status edit.
    const order = calls.map((call) => call.ts);
    expect(order.lastIndexOf('100.1')).toBeLessThan(order.indexOf('200.2'));
  });
});
