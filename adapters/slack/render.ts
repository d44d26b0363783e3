import type { types } from '@slack/bolt';
import {
  cardNotes,
  cardText,
  confidenceHeadline,
  confidenceLegend,
  type OutboundMessage,
  omittedFindingsNote,
  type PageNotice,
  type PageTarget,
  pageText,
  pageWords,
  type ReadCard,
  type ReadCardFinding,
  statusLine,
  urgencyBadge,
} from '../../src/core/reply.ts';
import { clipText } from '../../src/net/text-clip.ts';

/**
 * Pure renderer: the platform-neutral reply model → Block Kit (https://docs.slack.dev/reference/block-kit).
 * Mobile first: short header, one idea per block, buttons last. Every string that came from the model
 * goes through `escapeMrkdwn` and sits in a `verbatim: true` text object, so the model can neither
 * mention (`<!channel>`, `<@U…>`) nor link (`<http…|…>`, bare URLs) anything.
 */

type Block = types.KnownBlock;

export interface SlackRendered {
  /** Notification / accessibility fallback (chat.postMessage `text`). */
  text: string;
  blocks: Block[];
}

/** Block Kit limits (https://docs.slack.dev/reference/block-kit/blocks). */
export const LIMITS = {
  blocks: 50,
  sectionText: 3000,
  headerText: 150,
  contextElements: 10,
  buttonText: 75,
  fallbackText: 3000,
} as const;

export const ACTION_IDS = {
  acknowledge: 'qr_ack',
  notCritical: 'qr_not_critical',
  up: 'qr_feedback_up',
  down: 'qr_feedback_down',
} as const;
export const ACTIONS_BLOCK_ID = 'qr_actions';
export const ACK_BLOCK_ID = 'qr_acknowledged';

/** Slack's three control characters (https://docs.slack.dev/messaging/formatting-message-text#escaping). */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Escaped, plus bare URLs defanged (a word joiner after the scheme) so even a client that linkifies
 * plain text — notifications use the fallback `text` — shows no clickable model link.
 */
export function safeModelText(text: string): string {
  return escapeMrkdwn(text).replace(/\b([a-z][a-z0-9+.-]{1,15}):\/\//gi, '$1:\u2060//');
}

/**
 * Cut to a limit, marking the cut. Counted in UTF-16 units (the stricter reading of Slack's
 * "characters"), never splitting a surrogate pair (src/net/text-clip.ts).
 */
export const truncate = clipText;

/** Cut escaped mrkdwn text, dropping an entity (`&amp;`, `&lt;`, `&gt;`) the cut would break in two. */
export function truncateEscaped(text: string, max: number): string {
  const clipped = clipText(text, max);
  return clipped === text ? text : clipped.replace(/&[a-z]{0,3}…$/, '…');
}

export const mrkdwn = (text: string): types.MrkdwnElement => ({
  type: 'mrkdwn',
  text: truncate(text, LIMITS.sectionText),
  verbatim: true,
});
export const section = (text: string, blockId?: string): Block => ({
  type: 'section',
  text: mrkdwn(text),
  ...(blockId ? { block_id: blockId } : {}),
});
export const context = (texts: string[], blockId?: string): Block => ({
  type: 'context',
  elements: texts.slice(0, LIMITS.contextElements).map(mrkdwn),
  ...(blockId ? { block_id: blockId } : {}),
});

export function renderMessage(message: OutboundMessage): SlackRendered {
  switch (message.kind) {
    case 'status': {
      const text = statusLine(message);
      return { text, blocks: [context([text], 'qr_status')] };
    }
    case 'read':
      return renderReadCard(message.card);
    case 'error': {
      const text = `⚠️ ${safeModelText(message.text)}`;
      return {
        text: truncate(text, LIMITS.fallbackText),
        blocks: [section(text), context([`code ${message.code}`])],
      };
    }
    case 'page':
      return renderPage(message.page);
    case 'info': {
      const title = escapeMrkdwn(message.title);
      const blocks: Block[] = [section(`*${title}*`)];
      let chunk = '';
      for (const line of message.lines.map(escapeMrkdwn)) {
        if (chunk.length + line.length + 1 > LIMITS.sectionText && chunk) {
          blocks.push(section(chunk));
          chunk = '';
        }
        chunk = chunk ? `${chunk}\n${line}` : line;
      }
      if (chunk) blocks.push(section(chunk));
      return { text: truncate(title, LIMITS.fallbackText), blocks: blocks.slice(0, LIMITS.blocks) };
    }
  }
}

export function findingLine(f: ReadCardFinding): string {
  // "right upper lobe, right" says right twice; keep laterality only when the location lacks it.
  const side =
    f.laterality && f.laterality !== 'none' && !(f.location ?? '').toLowerCase().includes(f.laterality)
      ? f.laterality
      : undefined;
  const where = [f.location, side].filter(Boolean).join(', ');
  const parts = [`*${safeModelText(f.label)}*`];
  if (where) parts.push(safeModelText(where));
  if (f.sizeMm !== undefined) parts.push(`${Math.round(f.sizeMm * 10) / 10} mm`);
  if (f.severity) parts.push(f.severity);
  // Band first, % second; what the % is stands once in the card's context line (issue 18).
  let line = `• ${parts.join(' · ')} — confidence ${confidenceHeadline(f.confidencePct / 100)}`;
  if (f.grounded === false) line += ` ⚠️ _${cardText.notGrounded}_`;
  if (f.characteristics) line += `\n    _${safeModelText(f.characteristics)}_`;
  return line;
}

/** Pack lines into as few sections as the 3,000-character limit allows. */
function packLines(heading: string, lines: string[], budget: number): Block[] {
  const blocks: Block[] = [];
  let chunk = heading;
  for (const line of lines.map((l) => truncate(l, LIMITS.sectionText - heading.length - 1))) {
    if (chunk.length + line.length + 1 > LIMITS.sectionText) {
      blocks.push(section(chunk));
      chunk = '';
    }
    chunk = chunk ? `${chunk}\n${line}` : line;
  }
  if (chunk) blocks.push(section(chunk));
  if (blocks.length > budget) {
    const kept = blocks.slice(0, Math.max(1, budget - 1));
    kept.push(section(`…${lines.length} items in all; the rest did not fit in one Slack message.`));
    return kept;
  }
  return blocks;
}

/** The read's header line (urgency badge, follow-up mark) as a header block. */
export function readHeader(card: ReadCard): Block {
  const badge = urgencyBadge[card.urgency];
  const label = badge.label.charAt(0).toUpperCase() + badge.label.slice(1);
  return {
    type: 'header',
    text: {
      type: 'plain_text',
      text: truncate(
        `${badge.emoji} ${label}${card.isFollowUp ? ` · ${cardText.followUp}` : ''}`,
        LIMITS.headerText,
      ),
      emoji: true,
    },
  };
}

/** Notices, provenance, disclaimer and the buttons: the end of every read card, compact or whole. */
export function readTail(card: ReadCard): Block[] {
  const notices = cardNotes(card).map(safeModelText);
  const tail: Block[] = [];
  const legend = confidenceLegend(card.findings);
  if (legend) tail.push(context([escapeMrkdwn(legend)], 'qr_confidence'));
  if (notices.length > 0) tail.push(context(notices));
  tail.push(
    context(
      [
        `${escapeMrkdwn(card.model)} · prompt ${escapeMrkdwn(card.promptVersion)} · image ${card.image.width}×${card.image.height} (${card.image.tokens} tokens)${card.window ? ` · window: ${escapeMrkdwn(card.window)}` : ''}`,
      ],
      'qr_provenance',
    ),
    context([`⚠️ ${escapeMrkdwn(card.disclaimer)}`], 'qr_disclaimer'),
    ...acknowledgementBlocks(card.jobId, card.acknowledgedBy),
  );
  return tail;
}

/** Notification text of a read: urgency and impression (Slack shows it in notifications and to screen readers). */
export function readFallbackText(card: ReadCard): string {
  const badge = urgencyBadge[card.urgency];
  const label = badge.label.charAt(0).toUpperCase() + badge.label.slice(1);
  const impression = safeModelText(card.impression || cardText.noImpression);
  return truncateEscaped(
    `${badge.emoji} ${label}: ${impression} — not for diagnostic use`,
    LIMITS.fallbackText,
  );
}

/**
 * The whole read as one message, when it fits. Use read-plan.ts's planRead to deliver a read: it checks
 * the whole-message budget and falls back to a compact card plus continuation messages.
 */
export function renderReadCard(card: ReadCard): SlackRendered {
  const impression = safeModelText(card.impression || cardText.noImpression);
  const head: Block[] = [readHeader(card), section(`*Impression:* ${impression}`, 'qr_impression')];
  const tail = readTail(card);
  const budget = LIMITS.blocks - head.length - tail.length;
  const recommendations = card.recommendations.map((r) => `• ${safeModelText(r)}`);
  const omitted = omittedFindingsNote(card.omittedFindings);
  const findings =
    card.findings.length > 0
      ? packLines(
          `*${cardText.findings}*`,
          [...card.findings.map(findingLine), ...(omitted ? [`_${omitted}_`] : [])],
          Math.max(1, budget - (recommendations.length ? 1 : 0) - 1),
        )
      : [section(`*${cardText.findings}*\n${cardText.noFindings}`)];
  const recs = recommendations.length
    ? packLines(`*${cardText.recommendations}*`, recommendations, Math.max(1, budget - findings.length))
    : [];
  const blocks = [...head, ...findings, ...recs, ...tail].slice(0, LIMITS.blocks);
  return { text: readFallbackText(card), blocks };
}

function button(text: string, actionId: string, value: string, style?: 'primary' | 'danger'): types.Button {
  return {
    type: 'button',
    text: { type: 'plain_text', text: truncate(text, LIMITS.buttonText), emoji: true },
    action_id: actionId,
    value,
    ...(style ? { style } : {}),
  };
}

function acknowledgementBlocks(jobId: string, acknowledgedBy?: { userId: string; at: string }): Block[] {
  // Words beside the emoji: a button is named even where no emoji font draws it (issue 18).
  const feedback = [
    button('👍 Helpful', ACTION_IDS.up, jobId),
    button('👎 Not helpful', ACTION_IDS.down, jobId),
  ];
  if (acknowledgedBy) {
    return [
      ackContext(acknowledgedBy.userId, acknowledgedBy.at),
      { type: 'actions', block_id: ACTIONS_BLOCK_ID, elements: feedback },
    ];
  }
  return [
    {
      type: 'actions',
      block_id: ACTIONS_BLOCK_ID,
      elements: [button(cardText.acknowledge, ACTION_IDS.acknowledge, jobId, 'primary'), ...feedback],
    },
  ];
}

/**
 * Slack user ids are [UW][A-Z0-9]+; anything else is not rendered as a mention. The time is a Slack
 * date token, shown in each reader's own time zone (https://docs.slack.dev/messaging/formatting-message-text#date-formatting).
 */
function ackContext(userId: string, at: string): Block {
  const who = /^[UW][A-Z0-9]{2,}$/.test(userId) ? `<@${userId}>` : escapeMrkdwn(userId);
  const parsed = Date.parse(at);
  const when = Number.isNaN(parsed)
    ? escapeMrkdwn(at)
    : `<!date^${Math.floor(parsed / 1000)}^{date_short_pretty} {time}|${new Date(parsed).toISOString().replace(/\.\d+Z$/, 'Z')}> (local time)`;
  return {
    type: 'context',
    block_id: ACK_BLOCK_ID,
    elements: [{ type: 'mrkdwn', text: `✔️ ${cardText.acknowledgedBy(who, when)}` }],
  };
}

/**
 * A Slack mention from a configured id (https://docs.slack.dev/messaging/formatting-message-text#mentioning-users,
 * #mentioning-groups). The id is checked again here: only well-formed ids become mentions.
 */
export function slackMention(target: PageTarget): string | undefined {
  if (target.platform !== 'slack') return undefined;
  if (target.kind === 'user' && /^[UW][A-Z0-9]{2,20}$/.test(target.id)) return `<@${target.id}>`;
  if (target.kind === 'group' && /^S[A-Z0-9]{2,20}$/.test(target.id)) return `<!subteam^${target.id}>`;
  return undefined;
}

/**
 * A critical-result page (issue 19): the configured mentions first (so the push notification, which
 * shows `text`, is a mention), our own words, the model's impression escaped, Acknowledge and Not critical.
 */
export function renderPage(page: PageNotice): SlackRendered {
  const mentions = page.mentions.map(slackMention).filter(Boolean).join(' ');
  const { headline, withDetails } = pageText(page);
  const head = `${mentions ? `${mentions} ` : ''}${escapeMrkdwn(headline)}`;
  // Not verbatim: Slack must parse the mentions; everything else in it is escaped.
  const blocks: Block[] = [
    { type: 'section', text: { type: 'mrkdwn', text: truncate(head, LIMITS.sectionText) } },
  ];
  if (withDetails) {
    const impression = safeModelText(page.impression || cardText.noImpression);
    blocks.push(section(`*${pageWords.impression}:* ${impression}`));
    if (page.link && /^https:\/\/[^\s<>|]+$/.test(page.link))
      blocks.push({
        type: 'section',
        text: { type: 'mrkdwn', text: `<${page.link}|${pageWords.openThread}>` },
      });
    blocks.push(context([escapeMrkdwn(pageWords.note)]));
  }
  blocks.push({
    type: 'actions',
    block_id: `qr_page_${page.step}`,
    elements: [
      button(cardText.acknowledge, ACTION_IDS.acknowledge, page.jobId, 'primary'),
      button(cardText.notCritical, ACTION_IDS.notCritical, page.jobId),
    ],
  });
  return { text: truncate(head, LIMITS.fallbackText), blocks };
}

export const previewCaption = (caption: string): string =>
  truncate(`🖼️ ${escapeMrkdwn(caption)}`, LIMITS.sectionText);
