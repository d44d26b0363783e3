import { describe, expect, it } from 'vitest';
import { safeModelText } from '../../../adapters/slack/render.ts';
import type { OutboundMessage } from '../../../src/core/reply.ts';
import type { SlackArgs } from '../../fakes/slack-server.ts';
import { squeeze, worstCaseCard } from '../../helpers/worst-case-reads.ts';
import { useAdapterSuite } from './harness.ts';

/**
 * Long reads through the real Bolt WebClient against a fake Slack that refuses what Slack refuses
 * (msg_blocks_too_long over ~12,000 characters, invalid_blocks): the read always lands, and the status
 * message never stays at "reading…".
 */

const s = useAdapterSuite();

const sectionTexts = (blocks: SlackArgs[] = []) =>
  blocks.filter((block) => block.type === 'section').map((block) => String(block.text.text));

async function statusMessage(threadId: string) {
  const thread = { channelId: 'C9', threadId };
  const ref = await s.adapter.post(thread, { kind: 'status', jobId: 'job-worst', state: 'reading' });
  return { thread, ref };
}

describe('slack adapter: reads of any length', () => {
  it('edits the status into a compact card and posts the rest in order in the thread, all accepted', async () => {
    const { thread, ref } = await statusMessage('1700000900.000100');
    const card = worstCaseCard(30, { omittedFindings: 4 });
    await s.adapter.update(ref, { kind: 'read', card });

    const refused = s.fake.calls.filter((call) => call.result && call.result.ok === false);
    expect(refused).toEqual([]);
    const head = s.fake.message(ref.messageId)!;
    expect(sectionTexts(head.blocks).join('\n')).toContain('Top findings');
    const continuations = s.fake.postedTs(thread.threadId).filter((ts) => ts !== ref.messageId);
    expect(continuations.length).toBeGreaterThan(1);
    const texts = continuations.map((ts) => s.fake.message(ts)!.text);
    texts.forEach((text, i) => {
      expect(text).toContain(`(${i + 1}/${continuations.length})`);
    });
    // Every finding, whole, is somewhere in the thread.
    const shown = squeeze(continuations.flatMap((ts) => sectionTexts(s.fake.message(ts)!.blocks)).join('\n'));
    for (const finding of card.findings) expect(shown).toContain(squeeze(safeModelText(finding.label)));

    // Acknowledging re-renders the head only: no second set of continuations.
    const posts = s.fake.callsTo('chat.postMessage').length;
    const acknowledged: OutboundMessage = {
      kind: 'read',
      card: { ...card, acknowledgedBy: { userId: 'U1', at: new Date().toISOString() } },
    };
    await s.adapter.update(ref, acknowledged);
    expect(s.fake.callsTo('chat.postMessage')).toHaveLength(posts);
  });

  it('sends the read as text when Slack refuses its blocks', async () => {
    const { thread, ref } = await statusMessage('1700000901.000100');
    s.fake.refuseBlocks('invalid_blocks', 1);
    await s.adapter.update(ref, { kind: 'read', card: worstCaseCard(12) });
    const head = s.fake.message(ref.messageId)!;
    expect(head.blocks).toEqual([]);
    expect(head.text).toMatch(/^\(1\/\d+\) 🔴 CRITICAL/);
    const rest = s.fake.postedTs(thread.threadId).filter((ts) => ts !== ref.messageId);
    expect(rest.length).toBeGreaterThan(0);
    for (const ts of rest) expect(s.fake.message(ts)!.blocks).toEqual([]);
  });

  it('edits the status into an error naming Slack’s reason when every form is refused', async () => {
    const { ref } = await statusMessage('1700000902.000100');
    s.fake.refuseMessages('msg_too_long', 2);
    await expect(s.adapter.update(ref, { kind: 'read', card: worstCaseCard(12) })).rejects.toMatchObject({
      code: 'CHAT_API_FAILED',
    });
    const head = s.fake.message(ref.messageId)!;
    expect(head.text).toContain('Slack refused to show it (msg_too_long, then msg_too_long)');
    expect(head.text).not.toContain('reading');
  });

  it('leaves a message Slack cannot edit to the caller (it posts anew) instead of sending text into it', async () => {
    const { ref } = await statusMessage('1700000903.000100');
    const before = s.fake.callsTo('chat.update').length;
    s.fake.refuseMessages('message_not_found', 1);
    await expect(s.adapter.update(ref, { kind: 'read', card: worstCaseCard(12) })).rejects.toMatchObject({
      data: { error: 'message_not_found' },
    });
    expect(s.fake.callsTo('chat.update')).toHaveLength(before + 1);
  });
});
