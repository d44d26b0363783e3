import {
  cardNotes,
  cardText,
  confidenceHeadline,
  confidenceLegend,
  type OutboundMessage,
  pageText,
  pageWords,
  type ReadCard,
  type ReadCardFinding,
  statusLine,
} from '../../src/core/reply.ts';
import type { Urgency } from '../../src/core/types.ts';

/**
 * Pure mapping from the platform-neutral reply model to Adaptive Card 1.5 attachments (no I/O).
 * Every reply is a card, so the status message can be PUT in place into the read and back.
 * Teams renders a Markdown subset in TextBlocks; text from the model or a user is neutralised so it
 * cannot become a link or formatting (https://learn.microsoft.com/adaptive-cards/authoring-cards/text-features).
 */

export const ADAPTIVE_CARD = 'application/vnd.microsoft.card.adaptive';
/**
 * Teams refuses messages over about 28 KB (https://learn.microsoft.com/microsoftteams/platform/bots/
 * how-to/format-your-bot-messages): the budget for the whole activity, card plus inline preview.
 */
export const MESSAGE_BUDGET_BYTES = 28 * 1024;

type Element = Record<string, unknown>;
export interface AdaptiveCard {
  type: 'AdaptiveCard';
  $schema: string;
  version: '1.5';
  body: Element[];
  actions?: Element[];
  msteams?: { width: 'Full' };
}

export interface CardAttachment {
  contentType: typeof ADAPTIVE_CARD;
  content: AdaptiveCard;
}

/**
 * Model and user text must not become a link: `[label](url)` and bare `scheme://` URLs (which Teams
 * auto-links) are broken with a zero-width space, invisible to the reader. Nothing else needs escaping:
 * TextBlocks render no HTML, and a mention needs `msteams.entities`, which this card never carries.
 */
export function neutralise(text: string): string {
  return text
    .replace(/\]\s*\(/g, ']\u200b(')
    .replace(/:\/\//g, ':\u200b//')
    .replace(/\n{3,}/g, '\n\n');
}

const text = (value: string, extra: Element = {}): Element => ({
  type: 'TextBlock',
  text: value,
  wrap: true,
  ...extra,
});

function card(body: Element[], actions?: Element[]): CardAttachment {
  return {
    contentType: ADAPTIVE_CARD,
    content: {
      type: 'AdaptiveCard',
      $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
      version: '1.5',
      body,
      ...(actions && actions.length > 0 ? { actions } : {}),
      msteams: { width: 'Full' },
    },
  };
}

const urgencyStyle: Record<Urgency, { label: string; colour: string; emoji: string }> = {
  critical: { label: 'CRITICAL', colour: 'Attention', emoji: '🔴' },
  urgent: { label: 'Urgent', colour: 'Warning', emoji: '🟠' },
  routine: { label: 'Routine', colour: 'Good', emoji: '🟢' },
};

function findingLine(finding: ReadCardFinding): string {
  const details = [
    finding.location,
    finding.sizeMm !== undefined ? `${finding.sizeMm} mm` : undefined,
    finding.laterality && finding.laterality !== 'none' ? finding.laterality : undefined,
    finding.severity,
  ].filter((part): part is string => Boolean(part));
  const grounded = finding.grounded === false ? ` · ⚠️ ${cardText.notGrounded}` : '';
  // Band first, % second; what the % is stands once under the findings (issue 18).
  const described = finding.characteristics ? `\n_${neutralise(finding.characteristics)}_` : '';
  return `• **${neutralise(finding.label)}**${details.length ? ` — ${neutralise(details.join(', '))}` : ''} · confidence ${confidenceHeadline(finding.confidencePct / 100)}${grounded}${described}`;
}

/** The data carried by every Action.Execute of a read, answered by the adaptiveCard/action invoke. */
export interface ReadActionData {
  jobId: string;
}

function readActions(read: ReadCard): Element[] {
  const data: ReadActionData = { jobId: read.jobId };
  return [
    ...(read.acknowledgedBy
      ? []
      : [{ type: 'Action.Execute', verb: 'ack', title: cardText.acknowledge, style: 'positive', data }]),
    // Words beside the emoji: a button is named even where no emoji font draws it (issue 18).
    { type: 'Action.Execute', verb: 'up', title: '👍 Helpful', data },
    { type: 'Action.Execute', verb: 'down', title: '👎 Not helpful', data },
  ];
}

export interface ReadExtras {
  /** The de-identified preview, inline (Teams cannot attach a file to a bot's channel message). */
  preview?: { bytes: Buffer; mime: string; caption: string };
  /** Display name of whoever acknowledged, when this process has seen it (never the Entra id). */
  acknowledgedByName?: string;
}

export function renderRead(read: ReadCard, extras: ReadExtras = {}): CardAttachment {
  const style = urgencyStyle[read.urgency];
  const body: Element[] = [
    text(`${style.emoji} ${style.label}${read.isFollowUp ? ` · ${cardText.followUp}` : ''}`, {
      weight: 'Bolder',
      size: 'Medium',
      color: style.colour,
    }),
    text(`**Impression:** ${read.impression.trim() ? neutralise(read.impression) : cardText.noImpression}`),
  ];
  if (read.findings.length > 0)
    body.push(text(`**${cardText.findings}**`), text(read.findings.map(findingLine).join('\n\n')));
  else body.push(text(cardText.noFindings, { isSubtle: true }));
  if (read.recommendations.length > 0)
    body.push(
      text(`**${cardText.recommendations}**`),
      text(read.recommendations.map((r) => `• ${neutralise(r)}`).join('\n\n')),
    );
  const legend = confidenceLegend(read.findings);
  if (legend) body.push(text(legend, { size: 'Small', isSubtle: true }));
  for (const note of cardNotes(read)) body.push(text(neutralise(note), { isSubtle: true }));
  body.push(
    text(
      `${neutralise(read.model)} · prompt ${neutralise(read.promptVersion)} · image ${read.image.width}×${read.image.height} (${read.image.tokens} visual tokens)${read.window ? ` · window: ${neutralise(read.window)}` : ''}`,
      { size: 'Small', isSubtle: true },
    ),
  );
  if (read.acknowledgedBy) {
    const when = `${read.acknowledgedBy.at.slice(0, 16).replace('T', ' ')} UTC`;
    const who = neutralise(extras.acknowledgedByName ?? 'a colleague');
    body.push(text(`✅ ${cardText.acknowledgedBy(who, when)}`, { weight: 'Bolder' }));
  }
  if (extras.preview) {
    const { bytes, mime, caption } = extras.preview;
    body.push(
      {
        type: 'Image',
        url: `data:${mime};base64,${bytes.toString('base64')}`,
        altText: cardText.previewAlt,
        size: 'Auto',
      },
      text(neutralise(caption), { size: 'Small', isSubtle: true }),
    );
  }
  body.push(text(read.disclaimer, { size: 'Small', isSubtle: true, separator: true }));
  return card(body, readActions(read));
}

/** Any outbound message as one Adaptive Card attachment. */
export function renderOutbound(message: OutboundMessage, extras: ReadExtras = {}): CardAttachment {
  switch (message.kind) {
    case 'status':
      return card([text(statusLine(message))]);
    case 'read':
      return renderRead(message.card, extras);
    case 'error':
      return card([
        text('⚠️ Not read', { weight: 'Bolder' }),
        text(neutralise(message.text)),
        text(message.jobId ? `${message.code} · job ${message.jobId}` : message.code, {
          size: 'Small',
          isSubtle: true,
        }),
      ]);
    case 'info':
      return card([
        text(neutralise(message.title), { weight: 'Bolder' }),
        ...message.lines.map((line) => text(neutralise(line))),
      ]);
    case 'page': {
      // Rotas name no Teams ids yet (issue 19), so no page reaches Teams; drawn as words if one ever does.
      const { headline, withDetails } = pageText(message.page);
      return card([
        text(neutralise(headline), { weight: 'Bolder' }),
        ...(withDetails
          ? [
              text(`${pageWords.impression}: ${neutralise(message.page.impression)}`),
              text(pageWords.note, { size: 'Small', isSubtle: true }),
            ]
          : []),
      ]);
    }
  }
}

/** Bytes of an activity as sent (the budget Teams measures). */
export function activityBytes(activity: unknown): number {
  return Buffer.byteLength(JSON.stringify(activity));
}
