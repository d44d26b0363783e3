import {
  type APIActionRowComponent,
  type APIButtonComponent,
  type APIEmbed,
  type APIEmbedField,
  ButtonStyle,
  ComponentType,
} from 'discord.js';
import {
  cardNotes,
  cardText,
  confidenceHeadline,
  confidenceLegend,
  omittedFindingsNote,
  type ReadCard,
  type ReadCardFinding,
  urgencyBadge,
} from '../../src/core/reply.ts';
import { clip, type DiscordBody, LIMITS, NO_MENTIONS, neutralise, splitNeutralised } from './text.ts';

/** The read card as Discord embeds: the same content as Slack's card, split at Discord's limits. */

export function customId(action: 'ack' | 'nc' | 'up' | 'down', jobId: string): string {
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
        label: acknowledged ? 'Acknowledged' : cardText.acknowledge,
        disabled: acknowledged,
      },
      {
        type: ComponentType.Button,
        style: ButtonStyle.Secondary,
        custom_id: customId('up', jobId),
        // Words beside the emoji: the button is named even where no emoji font draws it (issue 18).
        label: 'Helpful',
        emoji: { name: '👍' },
      },
      {
        type: ComponentType.Button,
        style: ButtonStyle.Secondary,
        custom_id: customId('down', jobId),
        label: 'Not helpful',
        emoji: { name: '👎' },
      },
    ],
  };
}

/**
 * One finding as one or more fields. A label too long for a field name (256) is shown whole at the
 * top of the value instead, and a value over 1,024 continues in further fields: nothing is cut away.
 */
function findingFields(finding: ReadCardFinding, index: number): APIEmbedField[] {
  const label = neutralise(finding.label);
  const prefix = `${index + 1}. `;
  const nameFits = prefix.length + label.length <= LIMITS.fieldName;
  const lines = nameFits ? [] : [label];
  // Band first, % second; what the % is stands in the footer (issue 18).
  lines.push(`Confidence: ${confidenceHeadline(finding.confidencePct / 100)}`);
  if (finding.characteristics) lines.push(`*${neutralise(finding.characteristics)}*`);
  if (finding.grounded === false)
    lines.push(`⚠️ ${cardText.notGrounded} (the model reports it even on a blank image)`);
  const details = [
    finding.location,
    finding.sizeMm !== undefined ? `${finding.sizeMm} mm` : undefined,
    finding.laterality && finding.laterality !== 'none' ? finding.laterality : undefined,
    finding.severity,
  ].filter((item): item is string => item !== undefined && item !== '');
  if (details.length > 0) lines.push(neutralise(details.join(' · ')));
  const name = clip(`${prefix}${label}`, LIMITS.fieldName);
  return splitNeutralised(lines.join('\n'), LIMITS.fieldValue).map((value, i) => ({
    name: i === 0 ? name : `${prefix}(continued)`,
    value,
  }));
}

function listFields(name: string, items: string[]): APIEmbedField[] {
  const text = items.map((item) => `• ${neutralise(item)}`).join('\n');
  return splitNeutralised(text, LIMITS.fieldValue).map((value, i) => ({
    name: i === 0 ? name : `${name} (continued)`,
    value,
  }));
}

function readFooter(card: ReadCard): string {
  const image = `image ${card.image.width}×${card.image.height} px, ${card.image.tokens} visual tokens`;
  const lines = [
    confidenceLegend(card.findings),
    card.window ? `Display window: ${card.window}` : undefined,
    `${card.model} · prompt ${card.promptVersion} · ${image} · job ${card.jobId}`,
    card.disclaimer,
  ].filter((line): line is string => line !== undefined);
  return clip(lines.join('\n'), LIMITS.footer);
}

function embedSize(embed: APIEmbed): number {
  let size = (embed.title?.length ?? 0) + (embed.description?.length ?? 0) + (embed.footer?.text.length ?? 0);
  for (const field of embed.fields ?? []) size += field.name.length + field.value.length;
  return size;
}

/** The read card as one or more messages: header, findings, recommendations, notes, footer on each. */
export function renderRead(card: ReadCard): DiscordBody[] {
  const badge = urgencyBadge[card.urgency];
  const footer = { text: readFooter(card) };
  const title = clip(
    `${badge.emoji} ${badge.label.toUpperCase()} — quickread ${card.isFollowUp ? cardText.followUp : 'read'}`,
    LIMITS.title,
  );
  const fields: APIEmbedField[] =
    card.findings.length > 0
      ? card.findings.flatMap(findingFields)
      : [{ name: cardText.findings, value: cardText.noFindings }];
  const omitted = omittedFindingsNote(card.omittedFindings);
  if (omitted) fields.push({ name: 'Left out', value: omitted });
  if (card.recommendations.length > 0)
    fields.push(...listFields(cardText.recommendations, card.recommendations));
  const notes = cardNotes(card).map(neutralise);
  if (notes.length > 0) fields.push({ name: 'Notes', value: clip(notes.join('\n'), LIMITS.fieldValue) });
  if (card.acknowledgedBy) {
    const at = Math.floor(Date.parse(card.acknowledgedBy.at) / 1000);
    fields.push({ name: 'Acknowledged', value: `by <@${card.acknowledgedBy.userId}> <t:${at}:f>` });
  }

  const descriptions = splitNeutralised(`**Impression:** ${neutralise(card.impression)}`, LIMITS.description);
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
