import { DISCLAIMER, type ReadCard, type ReadCardFinding } from '../../src/core/reply.ts';

/**
 * The reads that broke delivery (issue 16): the schema's 12 findings and a non-conforming server's 30,
 * each 500 characters, emoji (surrogate pairs) at every position a cut could land on, Slack's control
 * characters that escaping lengthens (& < >), and a free-text answer of some 36,000 characters.
 */

/** 500 UTF-16 units: text, then emoji and markup so every clipping offset meets a surrogate pair somewhere. */
export function hostileText(seed: string, length = 500): string {
  const pieces = [`${seed} `, '🫁', 'é', ' & ', '<b>', '🩻', 'x', '😷', ' ', '🧠'];
  let out = '';
  let i = 0;
  while (out.length < length) {
    const piece = pieces[i % pieces.length]!;
    if (out.length + piece.length > length) break;
    out += piece;
    i += 1;
  }
  return out.padEnd(length, 'z');
}

function finding(i: number): ReadCardFinding {
  return {
    label: hostileText(`Finding ${i}`),
    location: hostileText(`location ${i}`, 200),
    sizeMm: 10 + i,
    laterality: 'left',
    severity: 'moderate',
    confidencePct: 99 - i,
    confidenceSource: 'probe-logprob',
    calibrated: false,
  };
}

export function worstCaseCard(findings: number, overrides: Partial<ReadCard> = {}): ReadCard {
  return {
    jobId: 'job-worst',
    urgency: 'critical',
    impression: hostileText('Impression', 2000),
    findings: Array.from({ length: findings }, (_, i) => finding(i)),
    recommendations: Array.from({ length: 8 }, (_, i) => hostileText(`Recommendation ${i}`, 400)),
    imageQuality: 'limited',
    model: 'Qwen/Qwen3-VL-8B-Instruct',
    promptVersion: 'radiologist@3',
    image: { width: 1024, height: 1024, tokens: 1024 },
    downscaled: true,
    burnedInTextRedacted: true,
    isFollowUp: false,
    disclaimer: DISCLAIMER,
    ...overrides,
  };
}

/** The worst cases by name: every renderer test runs all of them. */
export const worstCases: Array<[string, ReadCard]> = [
  ['12 findings of 500 characters', worstCaseCard(12)],
  ['30 findings of 500 characters', worstCaseCard(30, { omittedFindings: 4 })],
  ['a free-text answer of 36,000 characters', worstCaseCard(0, { impression: hostileText('Free', 36_000) })],
  [
    'a short read',
    worstCaseCard(1, { impression: 'Clear lungs.', recommendations: [], findings: [finding(0)] }),
  ],
];

/** Text with all whitespace removed: splitting drops spaces at cuts, so "delivered" compares without them. */
export const squeeze = (text: string) => text.replace(/\s+/g, '');
