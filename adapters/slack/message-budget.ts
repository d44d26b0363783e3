import type { SlackRendered } from './render.ts';
import { LIMITS } from './render.ts';

/**
 * Whether one Slack message will be accepted. Besides the per-block limits (50 blocks, 3,000 characters
 * per section text, 150 per header: https://docs.slack.dev/reference/block-kit/blocks), Slack refuses a
 * message whose blocks hold more than about 12,000 characters in all with `msg_blocks_too_long`
 * (slackapi/bolt-js issues 2509 and 2867: the limit is not documented and is counted after escaping).
 * quickread keeps every message under MESSAGE_TEXT_BUDGET, which leaves a margin for Slack counting a
 * little differently from us.
 */

export const MESSAGE_TEXT_BUDGET = 11_000;

/** What Slack's total counts: every `text` string in the blocks (sections, fields, context, headers, buttons). */
export function blocksTextLength(value: unknown): number {
  if (Array.isArray(value)) return value.reduce((sum: number, item) => sum + blocksTextLength(item), 0);
  if (!value || typeof value !== 'object') return 0;
  let sum = 0;
  for (const [key, child] of Object.entries(value)) {
    if (key === 'text' && typeof child === 'string') sum += child.length;
    else sum += blocksTextLength(child);
  }
  return sum;
}

/** Every limit the message breaks, in words (empty when Slack will take it). */
export function slackLimitProblems(message: SlackRendered, budget = MESSAGE_TEXT_BUDGET): string[] {
  const problems: string[] = [];
  if (message.blocks.length > LIMITS.blocks) problems.push(`${message.blocks.length} blocks`);
  if (message.text.length > LIMITS.fallbackText) problems.push(`fallback text ${message.text.length}`);
  const total = blocksTextLength(message.blocks);
  if (total > budget) problems.push(`blocks text ${total} > ${budget}`);
  for (const block of message.blocks) {
    if (block.type === 'section' && (block.text?.text.length ?? 0) > LIMITS.sectionText) {
      problems.push(`section text ${block.text?.text.length}`);
    }
    if (block.type === 'header' && block.text.text.length > LIMITS.headerText) {
      problems.push(`header text ${block.text.text.length}`);
    }
    if (block.type === 'context' && block.elements.length > LIMITS.contextElements) {
      problems.push(`${block.elements.length} context elements`);
    }
  }
  return problems;
}

/**
 * Pack lines into section texts of at most LIMITS.sectionText, and those into messages of at most
 * `budget` characters and `maxBlocks` blocks. A heading starts the first section of its group. Lines must
 * already fit one section (read-plan.ts splits longer ones).
 */
export function packSections(heading: string, lines: string[]): string[] {
  const sections: string[] = [];
  let chunk = heading;
  for (const line of lines) {
    if (chunk && chunk.length + 1 + line.length > LIMITS.sectionText) {
      sections.push(chunk);
      chunk = '';
    }
    chunk = chunk ? `${chunk}\n${line}` : line;
  }
  if (chunk) sections.push(chunk);
  return sections;
}

export function packMessages(sections: string[], budget: number, maxBlocks: number): string[][] {
  const messages: string[][] = [];
  let current: string[] = [];
  let size = 0;
  for (const text of sections) {
    if (current.length > 0 && (size + text.length > budget || current.length >= maxBlocks)) {
      messages.push(current);
      current = [];
      size = 0;
    }
    current.push(text);
    size += text.length;
  }
  if (current.length > 0) messages.push(current);
  return messages;
}
