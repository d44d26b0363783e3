import { describe, expect, it } from 'vitest';
import { plainReadBodies, sendWithReadFallback } from '../../../adapters/discord/plain-read.ts';
import { renderOutbound } from '../../../adapters/discord/render.ts';
import { type DiscordBody, neutralise } from '../../../adapters/discord/text.ts';
import type { ReadCard } from '../../../src/core/reply.ts';
import { AppError } from '../../../src/errors.ts';
import { silentLogger } from '../../../src/log.ts';
import { hasLoneSurrogate } from '../../../src/net/text-clip.ts';
import { discordBodyProblems } from '../../fakes/discord-rest.ts';
import { squeeze, worstCaseCard, worstCases } from '../../helpers/worst-case-reads.ts';

/** Everything a reader sees in the bodies, in order (embed text and content). */
function shown(bodies: DiscordBody[]): string {
  return bodies
    .flatMap((body) => [
      (body.content ?? '').replace(/^\(\d+\/\d+\) /, ''),
      ...(body.embeds ?? []).flatMap((embed) => [
        embed.description ?? '',
        ...(embed.fields ?? []).flatMap((field) => [field.name, field.value]),
      ]),
    ])
    .join('\n');
}

const pieces = (card: ReadCard) =>
  [
    card.impression,
    ...card.findings.flatMap((f) => [f.label, f.location ?? '']),
    ...card.recommendations,
  ].map((text) => squeeze(neutralise(text)));

describe('discord read: worst cases', () => {
  it.each(worstCases)('%s: every message within every limit, the whole read delivered', (_name, card) => {
    const bodies = renderOutbound({ kind: 'read', card });
    for (const body of bodies) {
      expect(discordBodyProblems(body as unknown as Record<string, unknown>)).toEqual([]);
      expect(hasLoneSurrogate(JSON.stringify(body))).toBe(false);
    }
    const text = squeeze(shown(bodies));
    for (const piece of pieces(card)) expect(text).toContain(piece);
    if (card.omittedFindings) expect(shown(bodies)).toContain(`${card.omittedFindings} less confident`);
  });

  it.each(worstCases)('%s: the plain-text fallback fits and carries the whole read', (_name, card) => {
    const bodies = plainReadBodies(card);
    for (const body of bodies) {
      expect(body.content!.length).toBeLessThanOrEqual(2000);
      expect(hasLoneSurrogate(body.content!)).toBe(false);
      expect(body.content).not.toMatch(/(^|[^\\])(\\\\)*\\$/);
    }
    const text = squeeze(shown(bodies));
    for (const piece of pieces(card)) expect(text).toContain(piece);
  });
});

describe('discord read: refusals', () => {
  const refused = () =>
    new AppError('CHAT_API_FAILED', 'discord POST failed (HTTP 400, code 50035)', {
      details: { status: 400, discordCode: 50035 },
    });

  it('sends a refused read again as plain text', async () => {
    const sent: DiscordBody[][] = [];
    await sendWithReadFallback(
      { kind: 'read', card: worstCaseCard(12) },
      async (parts) => {
        sent.push(parts);
        if (parts[0]!.embeds?.length) throw refused();
      },
      silentLogger,
    );
    expect(sent).toHaveLength(2);
    expect(sent[1]!.every((body) => body.embeds?.length === 0 && body.content)).toBe(true);
  });

  it('turns the status into an error naming the refusal when plain text is refused too', async () => {
    const sent: DiscordBody[][] = [];
    const outcome = await sendWithReadFallback(
      { kind: 'read', card: worstCaseCard(12) },
      async (parts) => {
        sent.push(parts);
        if (sent.length <= 2) throw refused();
      },
      silentLogger,
    ).catch((error: unknown) => error);
    expect(outcome).toMatchObject({ code: 'CHAT_API_FAILED' });
    expect(sent).toHaveLength(3);
    expect(sent[2]![0]!.embeds![0]!.description).toContain('Discord error 50035');
  });

  it('leaves a network failure to the caller (no fallback)', async () => {
    let calls = 0;
    const outcome = await sendWithReadFallback(
      { kind: 'read', card: worstCaseCard(1) },
      async () => {
        calls += 1;
        throw new AppError('CHAT_API_FAILED', 'network', { details: { status: undefined } });
      },
      silentLogger,
    ).catch((error: unknown) => error);
    expect(outcome).toMatchObject({ code: 'CHAT_API_FAILED' });
    expect(calls).toBe(1);
  });
});
