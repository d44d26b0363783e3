import {
  cardText,
  confidenceSourceLabel,
  longReadText,
  omittedFindingsNote,
  type ReadCard,
  urgencyBadge,
} from '../../src/core/reply.ts';
import { splitText } from '../../src/net/text-clip.ts';
import { MESSAGE_TEXT_BUDGET, packMessages, packSections, slackLimitProblems } from './message-budget.ts';
import {
  context,
  escapeMrkdwn,
  findingLine,
  LIMITS,
  readFallbackText,
  readHeader,
  readTail,
  renderReadCard,
  type SlackRendered,
  safeModelText,
  section,
  truncateEscaped,
} from './render.ts';

/**
 * How a read reaches Slack whatever its length (issue 16). A read that fits one message in full is that
 * message. A longer one becomes a compact card — urgency, the impression, the most confident findings,
 * the first recommendations, provenance and the buttons — followed by continuation messages in the
 * thread that carry everything, in order; every message stays inside message-budget.ts's limits. If
 * Slack still refuses the blocks, plainTextRead gives the same read as text-only messages.
 */

const COMPACT_IMPRESSION = 1500;
const COMPACT_FINDINGS = 3;
const COMPACT_RECOMMENDATIONS = 2;
const COMPACT_LINE = 400;
/** A line of a continuation section, leaving room for the section's heading. */
const LINE_MAX = LIMITS.sectionText - 100;
const PLAIN_MAX = LIMITS.fallbackText;

/** Split escaped mrkdwn text without cutting an entity (`&amp;`, `&lt;`, `&gt;`) in two. */
export function splitMrkdwn(text: string, max: number): string[] {
  const chunks = splitText(text, max - 4);
  for (let i = 0; i < chunks.length - 1; i++) {
    const partial = /&[a-z]{0,3}$/.exec(chunks[i]!);
    if (partial) {
      chunks[i] = chunks[i]!.slice(0, partial.index);
      chunks[i + 1] = partial[0] + chunks[i + 1]!;
    }
  }
  return chunks.filter((chunk) => chunk.length > 0);
}

const clipMrkdwn = truncateEscaped;

const recommendationLine = (text: string) => `• ${safeModelText(text)}`;

/** Everything the read says, as the lines a whole message must contain verbatim. */
function contentLines(card: ReadCard): string[] {
  const omitted = omittedFindingsNote(card.omittedFindings);
  return [
    safeModelText(card.impression || cardText.noImpression),
    ...card.findings.map(findingLine),
    ...(omitted ? [omitted] : []),
    ...card.recommendations.map(recommendationLine),
  ];
}

/** The messages to send, in order: the first replaces the status message, the rest go in the thread. */
export function planRead(card: ReadCard): SlackRendered[] {
  const whole = renderReadCard(card);
  const shown = whole.blocks.map((block) => JSON.stringify(block)).join('\n');
  const complete = contentLines(card).every((line) => shown.includes(JSON.stringify(line).slice(1, -1)));
  if (complete && slackLimitProblems(whole).length === 0) return [whole];
  const continuations = continuationMessages(card);
  return [compactCard(card, continuations.length), ...continuations];
}

function compactCard(card: ReadCard, continued: number): SlackRendered {
  const impression = safeModelText(card.impression || cardText.noImpression);
  const top = [...card.findings]
    .map((finding, index) => ({ finding, index }))
    .sort((a, b) => b.finding.confidencePct - a.finding.confidencePct || a.index - b.index)
    .slice(0, COMPACT_FINDINGS)
    .map(({ finding }) => clipMrkdwn(findingLine(finding), COMPACT_LINE));
  const blocks = [
    readHeader(card),
    section(`*Impression:* ${clipMrkdwn(impression, COMPACT_IMPRESSION)}`, 'qr_impression'),
  ];
  if (top.length > 0) {
    const heading = `*${longReadText.topFindings(top.length, card.findings.length)}*`;
    blocks.push(section([heading, ...top].join('\n')));
  } else {
    blocks.push(section(`*${cardText.findings}*\n${cardText.noFindings}`));
  }
  const recs = card.recommendations
    .slice(0, COMPACT_RECOMMENDATIONS)
    .map((line) => clipMrkdwn(recommendationLine(line), COMPACT_LINE));
  if (recs.length > 0) blocks.push(section([`*${cardText.recommendations}*`, ...recs].join('\n')));
  blocks.push(context([longReadText.continuesBelow(continued)], 'qr_continued'));
  blocks.push(...readTail(card));
  return { text: readFallbackText(card), blocks };
}

function continuationMessages(card: ReadCard): SlackRendered[] {
  const split = (line: string) => (line.length <= LINE_MAX ? [line] : splitMrkdwn(line, LINE_MAX));
  const impression = safeModelText(card.impression || cardText.noImpression);
  const omitted = omittedFindingsNote(card.omittedFindings);
  const sections: string[] = [];
  if (impression.length > COMPACT_IMPRESSION) {
    sections.push(...packSections(`*${longReadText.impressionInFull}*`, split(impression)));
  }
  if (card.findings.length > 0 || omitted) {
    const lines = [...card.findings.map(findingLine), ...(omitted ? [`_${omitted}_`] : [])];
    sections.push(
      ...packSections(`*${longReadText.allFindings(card.findings.length)}*`, lines.flatMap(split)),
    );
  }
  if (card.recommendations.length > 0) {
    const lines = card.recommendations.map(recommendationLine).flatMap(split);
    sections.push(...packSections(`*${cardText.recommendations}*`, lines));
  }
  // One block of each message is its "continued" label; its text counts against the budget too.
  const groups = packMessages(sections, MESSAGE_TEXT_BUDGET - 200, LIMITS.blocks - 1);
  return groups.map((texts, i) => {
    const label = longReadText.continued(escapeMrkdwn(card.jobId), i + 1, groups.length);
    return {
      text: label,
      blocks: [
        context([`↪ ${label} — AI-generated second look, not for diagnostic use`]),
        ...texts.map((t) => section(t)),
      ],
    };
  });
}

/**
 * The read as text-only messages (no blocks) of at most 3,000 characters each: what is sent when Slack
 * refuses the blocks. Still mrkdwn-escaped, so the model cannot mention or link anything.
 */
export function plainTextRead(card: ReadCard): string[] {
  const badge = urgencyBadge[card.urgency];
  const lines = [
    `${badge.emoji} ${badge.label.toUpperCase()}${card.isFollowUp ? ` · ${cardText.followUp}` : ''} — quickread read`,
    `Impression: ${safeModelText(card.impression || cardText.noImpression)}`,
  ];
  if (card.findings.length > 0) lines.push('Findings:');
  for (const finding of card.findings) {
    const facts = [finding.location, finding.sizeMm !== undefined ? `${finding.sizeMm} mm` : undefined]
      .concat(finding.severity)
      .filter((item): item is string => Boolean(item));
    const source = confidenceSourceLabel[finding.confidenceSource];
    lines.push(
      `- ${safeModelText(finding.label)}${facts.length ? ` (${safeModelText(facts.join(', '))})` : ''} — ${finding.confidencePct}% (${source})`,
    );
  }
  const omitted = omittedFindingsNote(card.omittedFindings);
  if (omitted) lines.push(omitted);
  if (card.recommendations.length > 0) lines.push('Recommendations:');
  lines.push(...card.recommendations.map((line) => `- ${safeModelText(line)}`));
  lines.push(
    `${escapeMrkdwn(card.model)} · prompt ${escapeMrkdwn(card.promptVersion)} · job ${escapeMrkdwn(card.jobId)}`,
    `⚠️ ${escapeMrkdwn(card.disclaimer)}`,
  );
  const chunks = splitMrkdwn(lines.join('\n'), PLAIN_MAX - 12);
  return chunks.length === 1 ? chunks : chunks.map((chunk, i) => `(${i + 1}/${chunks.length}) ${chunk}`);
}

/** A continuation message's blocks as plain text chunks (its fallback when Slack refuses its blocks). */
export function plainTextOf(message: SlackRendered): string[] {
  const texts = message.blocks.flatMap((block) =>
    block.type === 'section' && block.text ? [block.text.text] : [],
  );
  return splitMrkdwn([message.text, ...texts].join('\n'), PLAIN_MAX);
}
