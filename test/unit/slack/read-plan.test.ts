import { describe, expect, it } from 'vitest';
import {
  blocksTextLength,
  MESSAGE_TEXT_BUDGET,
  slackLimitProblems,
} from '../../../adapters/slack/message-budget.ts';
import { plainTextRead, planRead, splitMrkdwn } from '../../../adapters/slack/read-plan.ts';
import { LIMITS, renderReadCard, type SlackRendered, safeModelText } from '../../../adapters/slack/render.ts';
import type { ReadCard } from '../../../src/core/reply.ts';
import { hasLoneSurrogate } from '../../../src/net/text-clip.ts';
import { blocksRefusal } from '../../fakes/slack-server.ts';
import { squeeze, worstCaseCard, worstCases } from '../../helpers/worst-case-reads.ts';

/** Every text a reader sees in the messages, in order; `sectionsOnly` leaves out the "continued" labels. */
function shownText(messages: SlackRendered[], sectionsOnly = false): string {
  const out: string[] = [];
  const walk = (node: unknown) => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (key === 'text' && typeof value === 'string') out.push(value);
        else walk(value);
      }
    }
  };
  for (const message of messages) {
    walk(sectionsOnly ? message.blocks.filter((block) => block.type === 'section') : message.blocks);
  }
  return out.join('\n');
}

/** The pieces of the read a clinician must be able to see, as Slack shows them (escaped). */
function pieces(card: ReadCard): string[] {
  return [
    card.impression,
    ...card.findings.flatMap((f) => [f.label, f.location ?? '']),
    ...card.recommendations,
  ].map((text) => squeeze(safeModelText(text)));
}

describe('slack read plan: worst cases', () => {
  it.each(worstCases)('%s: every message within every limit, the whole read delivered', (_name, card) => {
    const messages = planRead(card);
    for (const message of messages) {
      expect(slackLimitProblems(message)).toEqual([]);
      // The fake's independent check of what Slack refuses, too.
      expect(blocksRefusal(message.blocks)).toBeUndefined();
      expect(blocksTextLength(message.blocks)).toBeLessThanOrEqual(MESSAGE_TEXT_BUDGET);
      expect(hasLoneSurrogate(JSON.stringify(message))).toBe(false);
      expect(JSON.stringify(message)).not.toMatch(/&[a-z]{0,3}(?![a-z;])/);
    }
    const shown = squeeze(shownText(messages, true));
    for (const piece of pieces(card)) expect(shown).toContain(piece);
    if (card.omittedFindings) expect(shownText(messages)).toContain(`${card.omittedFindings} less confident`);
  });

  it('is needed: the whole 12-finding read in one message is what Slack refuses as msg_blocks_too_long', () => {
    const whole = renderReadCard(worstCaseCard(12));
    expect(blocksRefusal(whole.blocks)).toBe('msg_blocks_too_long');
    expect(slackLimitProblems(whole)).not.toEqual([]);
  });

  it('keeps a read that fits as one message, and makes a long one a compact card plus continuations', () => {
    expect(planRead(worstCases[3]![1])).toHaveLength(1);
    const [head, ...rest] = planRead(worstCaseCard(12));
    expect(rest.length).toBeGreaterThan(0);
    const headText = shownText([head!]);
    expect(headText).toContain('Top findings');
    expect(headText).toContain(`follows in ${rest.length} message`);
    expect(head!.blocks.some((block) => block.type === 'actions')).toBe(true);
    rest.forEach((message, i) => {
      expect(message.text).toContain(`(${i + 1}/${rest.length})`);
    });
  });

  it.each(worstCases)('%s: the plain-text fallback fits and carries the whole read', (_name, card) => {
    const chunks = plainTextRead(card);
    for (const chunk of chunks) {
      expect(chunk.length).toBeLessThanOrEqual(LIMITS.fallbackText);
      expect(hasLoneSurrogate(chunk)).toBe(false);
    }
    const shown = squeeze(chunks.map((chunk) => chunk.replace(/^\(\d+\/\d+\) /, '')).join('\n'));
    for (const piece of pieces(card)) expect(shown).toContain(piece);
  });

  it('never cuts an escaped entity or a surrogate pair at any split point', () => {
    const text = safeModelText('a&b<c>🫁'.repeat(400));
    for (const max of [7, 8, 9, 10, 11, 50, 101]) {
      const chunks = splitMrkdwn(text, max);
      for (const chunk of chunks) {
        expect(chunk.length).toBeLessThanOrEqual(max);
        expect(hasLoneSurrogate(chunk)).toBe(false);
        expect(chunk).not.toMatch(/&[a-z]{0,3}$|^[a-z]{1,3};/);
      }
      expect(chunks.join('')).toBe(text);
    }
  });
});
