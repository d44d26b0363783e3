import { ButtonStyle, ComponentType } from 'discord.js';
import {
  cardText,
  type OutboundMessage,
  type PageNotice,
  pageText,
  pageWords,
  statusLine,
  urgencyBadge,
} from '../../src/core/reply.ts';
import { customId, renderRead } from './read-card.ts';
import { chunkText, clip, type DiscordBody, LIMITS, NO_MENTIONS, neutralise } from './text.ts';

/**
 * Pure mapping from the platform-neutral reply model to Discord message bodies (no I/O). A reply
 * that does not fit Discord's limits is split into several bodies; the first is the one to edit.
 * Limits and neutralising live in text.ts, the read card in read-card.ts.
 */

export { buttonsRow, customId } from './read-card.ts';
export { chunkText, clip, type DiscordBody, LIMITS, NO_MENTIONS, neutralise } from './text.ts';

const INFO_COLOUR = 0x5865f2;
const ERROR_COLOUR = 0x9e9e9e;

const PHI_EXPLANATION =
  'Discord has no business associate agreement, so quickread reads only de-identified or teaching images here. ' +
  'Export the image anonymised (no name, ID or birth date in the header) and post it again.';

function renderError(code: string, text: string, jobId?: string): DiscordBody[] {
  const phi = code === 'PHI_PRESENT';
  const description = phi ? `${neutralise(text)}\n\n${PHI_EXPLANATION}` : neutralise(text);
  return [
    {
      embeds: [
        {
          title: phi ? '⛔ Not read — patient identity in the DICOM header' : '⚠️ Not read',
          description: clip(description, LIMITS.description),
          color: ERROR_COLOUR,
          footer: { text: jobId ? `${code} · job ${jobId}` : code },
        },
      ],
      components: [],
      allowed_mentions: { ...NO_MENTIONS },
    },
  ];
}

function renderInfo(title: string, lines: string[]): DiscordBody[] {
  const chunks = chunkText(lines.map(neutralise).join('\n'), LIMITS.description);
  return chunks.map((description, i) => ({
    embeds: [
      {
        title: clip(i === 0 ? title : `${title} (continued)`, LIMITS.title),
        description,
        color: INFO_COLOUR,
      },
    ],
    components: [],
    allowed_mentions: { ...NO_MENTIONS },
  }));
}

/** Render any outbound message as one or more Discord message bodies; the first is the one to edit. */
export function renderOutbound(message: OutboundMessage): DiscordBody[] {
  switch (message.kind) {
    case 'status':
      return [
        {
          content: statusLine(message),
          embeds: [],
          components: [],
          allowed_mentions: { ...NO_MENTIONS },
        },
      ];
    case 'read':
      return renderRead(message.card);
    case 'error':
      return renderError(message.code, message.text, message.jobId);
    case 'info':
      return renderInfo(message.title, message.lines);
    case 'page':
      return [renderPage(message.page)];
  }
}

/**
 * A critical-result page (issue 19). The content starts with the configured mentions (`<@id>` users,
 * `<@&id>` roles), and `allowed_mentions` names exactly those ids, so Discord pings them and nobody else
 * ("Allowed Mentions Object": with `parse: []`, only the listed users and roles are notified).
 */
export function renderPage(page: PageNotice): DiscordBody {
  const mine = page.mentions.filter((t) => t.platform === 'discord' && /^\d{15,21}$/.test(t.id));
  const users = mine.filter((t) => t.kind === 'user').map((t) => t.id);
  const roles = mine.filter((t) => t.kind === 'group').map((t) => t.id);
  const mentions = [...users.map((id) => `<@${id}>`), ...roles.map((id) => `<@&${id}>`)].join(' ');
  const { headline, withDetails } = pageText(page);
  const content = clip(`${mentions ? `${mentions} ` : ''}${neutralise(headline)}`, LIMITS.content);
  const badge = urgencyBadge[page.urgency];
  const lines = [`**${pageWords.impression}:** ${neutralise(page.impression || cardText.noImpression)}`];
  if (page.link && /^https:\/\/\S+$/.test(page.link)) lines.push(`[${pageWords.openThread}](${page.link})`);
  lines.push(`*${pageWords.note}*`);
  return {
    content,
    embeds: withDetails
      ? [{ description: clip(lines.join('\n'), LIMITS.description), color: badge.colour }]
      : [],
    components: [
      {
        type: ComponentType.ActionRow,
        components: [
          {
            type: ComponentType.Button,
            style: ButtonStyle.Success,
            custom_id: customId('ack', page.jobId),
            label: cardText.acknowledge,
          },
          {
            type: ComponentType.Button,
            style: ButtonStyle.Secondary,
            custom_id: customId('nc', page.jobId),
            label: cardText.notCritical,
          },
        ],
      },
    ],
    allowed_mentions: { ...NO_MENTIONS, users, roles },
  };
}

/** A body for a new message: drop empty content (Discord rejects a message with nothing in it). */
export function forCreate(body: DiscordBody): DiscordBody {
  const { content, ...rest } = body;
  return content ? { ...body } : rest;
}

/** A body for an edit: every key present, so leftovers of the previous state (text, buttons) are cleared. */
export function forEdit(body: DiscordBody): DiscordBody {
  return { content: '', embeds: [], components: [], ...body };
}

/** The caption of the de-identified preview, never the original upload. */
export function previewBody(
  caption: string,
): DiscordBody & { attachments: { id: number; filename: string; description: string }[] } {
  return {
    content: clip(neutralise(caption), LIMITS.content),
    allowed_mentions: { ...NO_MENTIONS },
    attachments: [
      {
        id: 0,
        filename: PREVIEW_NAME,
        description: 'De-identified preview of what the model saw — not for diagnostic use',
      },
    ],
  };
}

export const PREVIEW_NAME = 'quickread-preview-deidentified.png';
