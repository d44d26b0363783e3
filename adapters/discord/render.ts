import {
  type APIActionRowComponent,
  type APIButtonComponent,
  type APIEmbed,
  type APIEmbedField,
  ButtonStyle,
  ComponentType,
} from 'discord.js';
import {
  confidenceSourceLabel,
  type OutboundMessage,
  type ReadCard,
  type ReadCardFinding,
  type StatusState,
  urgencyBadge,
} from '../../src/core/reply.ts';

/**
 * Pure mapping from the platform-neutral reply model to Discord message bodies (no I/O).
 *
 * Limits from Discord's "Message Resource → Embed Limits": title 256, description 4096, 25 fields,
 * field name 256, field value 1024, footer 2048, and 6000 characters over all embeds of one message;
 * message content 2000. A reply that does not fit is split into several message bodies.
 *
 * Every body carries `allowed_mentions: { parse: [] }` ("Allowed Mentions Object"): whatever the
 * model writes, Discord will not ping anyone. Model text is also neutralised (second line of defence).
 */

export const LIMITS = {
  content: 2000,
  title: 256,
  description: 4096,
  fields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footer: 2048,
  embedTotal: 6000,
} as const;

export const NO_MENTIONS = Object.freeze({ parse: [] as never[], replied_user: false });

export interface DiscordBody {
  content?: string;
  embeds?: APIEmbed[];
  components?: APIActionRowComponent<APIButtonComponent>[];
  allowed_mentions: { parse: never[]; replied_user: boolean };
  flags?: number;
}

const INFO_COLOUR = 0x5865f2;
const ERROR_COLOUR = 0x9e9e9e;
const ZWSP = '\u200b';

/**
 * Make untrusted text inert: markdown escaped (incl. masked links, headings, lists), @everyone/@here
 * and <@id>/<@&id>/<#id> broken with a zero-width space, and URL schemes broken so nothing auto-links.
 */
export function neutralise(text: string): string {
  // Linear escaping (discord.js's escapeMarkdown is super-linear on long text): a backslash before every
  // markdown character, and before heading, list and quote markers at the start of a line.
  return text
    .replace(/[\\*_~`|>[\]]/g, '\\$&')
    .replace(/^([ \t]*)([#-])/gm, '$1\\$2')
    .replace(/^([ \t]*)(\d+)\.(?=\s)/gm, '$1$2\\.')
    .replace(/@(everyone|here)/gi, `@${ZWSP}$1`)
    .replace(/<(@[!&]?|#|\/)/g, `<${ZWSP}$1`)
    .replace(/\b([a-z][a-z0-9+.-]*):\/\//gi, `$1:${ZWSP}//`);
}

/** Cut to `max` characters, ending with an ellipsis when something was dropped. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Split text into chunks of at most `max` characters, preferring line then word boundaries. */
export function chunkText(text: string, max: number): string[] {
  const chunks: string[] = [];
  let rest = text;
  while (rest.length > max) {
    let cut = rest.lastIndexOf('\n', max);
    if (cut < max / 2) cut = rest.lastIndexOf(' ', max);
    if (cut < max / 2) cut = max;
    chunks.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).trimStart();
  }
  if (rest.length > 0 || chunks.length === 0) chunks.push(rest);
  return chunks;
}

export function customId(action: 'ack' | 'up' | 'down', jobId: string): string {
  // custom_id is at most 100 characters (Message Components → Button).
  return clip(`qr:${action}:${jobId}`, 100);
}

export function buttonsRow(jobId: string, acknowledged: boolean): APIActionRowComponent<APIButtonComponent> {
  return {
    type: ComponentType.ActionRow,
    components: [
      {
        type: ComponentType.Button,
        style: ButtonStyle.Success,
        custom_id: customId('ack', jobId),
        label: acknowledged ? 'Acknowledged' : 'Acknowledge',
        disabled: acknowledged,
      },
      {
        type: ComponentType.Button,
        style: ButtonStyle.Secondary,
        custom_id: customId('up', jobId),
        emoji: { name: '👍' },
      },
      {
        type: ComponentType.Button,
        style: ButtonStyle.Secondary,
        custom_id: customId('down', jobId),
        emoji: { name: '👎' },
      },
    ],
  };
}

function statusLine(state: StatusState, position?: number, etaSec?: number): string {
  switch (state) {
    case 'received':
      return '👀 Received — getting the image ready.';
    case 'queued': {
      const where = position !== undefined ? ` #${position}` : '';
      const eta = etaSec !== undefined ? ` · about ${formatDuration(etaSec)}` : '';
      return `⏳ Queued${where}${eta}`;
    }
    case 'waiting-engine':
      return '⏸️ Waiting for the model server to come back — your request stays in the queue.';
    case 'preparing':
      return '🛠️ Preparing the image (decode, window, de-identify)…';
    case 'reading':
      return '🔎 Reading…';
  }
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

function findingField(finding: ReadCardFinding, index: number): APIEmbedField {
  const source = confidenceSourceLabel[finding.confidenceSource];
  const lines = [
    `Confidence **${finding.confidencePct}%** · ${source}${finding.calibrated ? ', calibrated' : ', uncalibrated'}`,
  ];
  if (finding.grounded === false)
    lines.push('⚠️ not image-grounded (the model reports it even on a blank image)');
  const details = [
    finding.location,
    finding.sizeMm !== undefined ? `${finding.sizeMm} mm` : undefined,
    finding.laterality && finding.laterality !== 'none' ? finding.laterality : undefined,
    finding.severity,
  ].filter((item): item is string => item !== undefined && item !== '');
  if (details.length > 0) lines.push(neutralise(details.join(' · ')));
  return {
    name: clip(`${index + 1}. ${neutralise(finding.label)}`, LIMITS.fieldName),
    value: clip(lines.join('\n'), LIMITS.fieldValue),
  };
}

function listFields(name: string, items: string[]): APIEmbedField[] {
  const text = items.map((item) => `• ${neutralise(item)}`).join('\n');
  return chunkText(text, LIMITS.fieldValue).map((value, i) => ({
    name: i === 0 ? name : `${name} (continued)`,
    value,
  }));
}

function readFooter(card: ReadCard): string {
  const image = `image ${card.image.width}×${card.image.height} px, ${card.image.tokens} visual tokens`;
  return clip(
    `${card.model} · prompt ${card.promptVersion} · ${image} · job ${card.jobId}\n${card.disclaimer}`,
    LIMITS.footer,
  );
}

function embedSize(embed: APIEmbed): number {
  let size = (embed.title?.length ?? 0) + (embed.description?.length ?? 0) + (embed.footer?.text.length ?? 0);
  for (const field of embed.fields ?? []) size += field.name.length + field.value.length;
  return size;
}

/** The read card as one or more messages: header, findings, recommendations, notes, footer on each. */
function renderRead(card: ReadCard): DiscordBody[] {
  const badge = urgencyBadge[card.urgency];
  const footer = { text: readFooter(card) };
  const title = clip(
    `${badge.emoji} ${badge.label.toUpperCase()} — quickread ${card.isFollowUp ? 'follow-up' : 'read'}`,
    LIMITS.title,
  );
  const fields: APIEmbedField[] =
    card.findings.length > 0
      ? card.findings.map(findingField)
      : [{ name: 'Findings', value: 'No findings reported.' }];
  if (card.recommendations.length > 0) fields.push(...listFields('Recommendations', card.recommendations));
  if (card.imageQuality) {
    fields.push({ name: 'Image quality', value: clip(neutralise(card.imageQuality), LIMITS.fieldValue) });
  }
  const notes: string[] = [];
  if (card.downscaled) notes.push('The image was downscaled to fit the model server.');
  if (card.burnedInTextRedacted) notes.push('Text found in the pixels was blacked out before the read.');
  if (notes.length > 0) fields.push({ name: 'Notes', value: notes.join('\n') });
  if (card.acknowledgedBy) {
    const at = Math.floor(Date.parse(card.acknowledgedBy.at) / 1000);
    fields.push({ name: 'Acknowledged', value: `by <@${card.acknowledgedBy.userId}> <t:${at}:f>` });
  }

  const descriptions = chunkText(`**Impression:** ${neutralise(card.impression)}`, LIMITS.description);
  const embeds: APIEmbed[] = [];
  let current: APIEmbed = { title, description: descriptions[0], color: badge.colour, fields: [], footer };
  const budget = LIMITS.embedTotal - 50;
  for (const extra of descriptions.slice(1)) {
    embeds.push(current);
    current = { title: `${title} (continued)`, description: extra, color: badge.colour, fields: [], footer };
  }
  for (const field of fields) {
    const size = field.name.length + field.value.length;
    if ((current.fields?.length ?? 0) >= LIMITS.fields || embedSize(current) + size > budget) {
      embeds.push(current);
      current = { title: `${title} (continued)`, color: badge.colour, fields: [], footer };
    }
    current.fields?.push(field);
  }
  embeds.push(current);
  // One embed per message keeps each message under the 6000-character total.
  return embeds.map((embed, i) => ({
    embeds: [embed],
    components: i === 0 ? [buttonsRow(card.jobId, card.acknowledgedBy !== undefined)] : [],
    allowed_mentions: { ...NO_MENTIONS },
  }));
}

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
          content: statusLine(message.state, message.position, message.etaSec),
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
  }
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
