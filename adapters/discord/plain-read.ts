import {
  confidenceSourceLabel,
  longReadText,
  type OutboundMessage,
  omittedFindingsNote,
  type ReadCard,
  urgencyBadge,
} from '../../src/core/reply.ts';
import { AppError } from '../../src/errors.ts';
import type { Logger } from '../../src/log.ts';
import { renderOutbound } from './render.ts';
import { type DiscordBody, LIMITS, NO_MENTIONS, neutralise, splitNeutralised } from './text.ts';

/**
 * The fallback when Discord refuses a read's embeds (issue 16): the same read as plain messages of at
 * most 2,000 characters, and, if even those are refused, the status message edited into an error that
 * names Discord's reason, so it never stays at "Reading…".
 */

export function plainReadBodies(card: ReadCard): DiscordBody[] {
  const badge = urgencyBadge[card.urgency];
  const lines = [
    `${badge.emoji} **${badge.label.toUpperCase()}** — quickread ${card.isFollowUp ? 'follow-up' : 'read'}`,
    `**Impression:** ${neutralise(card.impression)}`,
  ];
  card.findings.forEach((finding, i) => {
    const facts = [finding.location, finding.sizeMm !== undefined ? `${finding.sizeMm} mm` : undefined]
      .concat(finding.severity)
      .filter((item): item is string => Boolean(item));
    lines.push(
      `${i + 1}. ${neutralise(finding.label)}${facts.length ? ` (${neutralise(facts.join(', '))})` : ''} — ${finding.confidencePct}% (${confidenceSourceLabel[finding.confidenceSource]})`,
    );
  });
  const omitted = omittedFindingsNote(card.omittedFindings);
  if (omitted) lines.push(omitted);
  for (const line of card.recommendations) lines.push(`• ${neutralise(line)}`);
  lines.push(
    `${neutralise(card.model)} · prompt ${neutralise(card.promptVersion)} · job ${neutralise(card.jobId)}`,
  );
  lines.push(card.disclaimer);
  const chunks = splitNeutralised(lines.join('\n'), LIMITS.content - 12);
  return chunks.map((chunk, i) => ({
    content: chunks.length === 1 ? chunk : `(${i + 1}/${chunks.length}) ${chunk}`,
    embeds: [],
    components: [],
    allowed_mentions: { ...NO_MENTIONS },
  }));
}

/** A 400 from Discord: the body itself was refused (Invalid Form Body, 50035, or another code). */
export function discordRefusal(error: unknown): string | undefined {
  if (!(error instanceof AppError) || error.details.status !== 400) return undefined;
  return `Discord error ${String(error.details.discordCode ?? 'unknown')}`;
}

/** Send a message; a refused read goes again as plain text, and then as a named error. */
export async function sendWithReadFallback<T>(
  message: OutboundMessage,
  send: (parts: DiscordBody[]) => Promise<T>,
  logger: Logger,
): Promise<T> {
  try {
    return await send(renderOutbound(message));
  } catch (error) {
    const refusal = discordRefusal(error);
    if (message.kind !== 'read' || !refusal) throw error;
    logger.warn({ job: message.card.jobId, refusal }, 'discord refused the read card; sending it as text');
    try {
      return await send(plainReadBodies(message.card));
    } catch (again) {
      const second = discordRefusal(again);
      if (!second) throw again;
      const text = longReadText.refused('Discord', `${refusal}, then ${second}`, message.card.jobId);
      await send(renderOutbound({ kind: 'error', jobId: message.card.jobId, code: 'CHAT_API_FAILED', text }));
      throw new AppError('CHAT_API_FAILED', `discord refused the read: ${refusal}, ${second}`, {
        retryable: false,
      });
    }
  }
}
