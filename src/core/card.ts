import { DISCLAIMER, type ReadCard } from './reply.ts';
import type { InferenceResult, PreparedImage, Turn, WindowInfo } from './types.ts';
import { windowWords } from './wording.ts';

/** InferenceResult → the platform-neutral read card every renderer draws (src/core/reply.ts). */
export function toReadCard(
  jobId: string,
  result: InferenceResult,
  image: Pick<PreparedImage, 'width' | 'height' | 'tokens' | 'deid'> & { window?: WindowInfo },
  isFollowUp: boolean,
): ReadCard {
  const sent = result.downscaled ?? { width: image.width, height: image.height, tokens: image.tokens };
  return {
    jobId,
    urgency: result.urgency,
    impression: result.impression,
    findings: result.findings.map((finding) => ({
      label: finding.label,
      ...(finding.location !== undefined ? { location: finding.location } : {}),
      ...(finding.sizeMm !== undefined ? { sizeMm: finding.sizeMm } : {}),
      ...(finding.laterality !== undefined ? { laterality: finding.laterality } : {}),
      ...(finding.severity !== undefined ? { severity: finding.severity } : {}),
      confidencePct: Math.round(Math.min(1, Math.max(0, finding.confidence.value)) * 100),
      confidenceSource: finding.confidence.source,
      calibrated: finding.confidence.calibrated,
      ...(finding.confidence.calibratedOn !== undefined
        ? { calibratedOn: finding.confidence.calibratedOn }
        : {}),
      ...(finding.confidence.grounded !== undefined ? { grounded: finding.confidence.grounded } : {}),
      ...(finding.characteristics ? { characteristics: finding.characteristics } : {}),
    })),
    ...(result.omittedFindings ? { omittedFindings: result.omittedFindings } : {}),
    recommendations: [...result.recommendations],
    ...(result.imageQuality !== undefined ? { imageQuality: result.imageQuality } : {}),
    model: result.model,
    promptVersion: result.promptVersion,
    image: { width: sent.width, height: sent.height, tokens: sent.tokens },
    ...(image.window ? { window: windowWords(image.window) } : {}),
    downscaled: result.downscaled !== undefined,
    burnedInTextRedacted: (image.deid.burnedInText?.redacted ?? 0) > 0,
    isFollowUp,
    disclaimer: DISCLAIMER,
  };
}

/** The assistant's side of a turn, as history for follow-up questions: what was said, compactly. */
export function cardAsTurn(card: ReadCard): Turn {
  const findings = card.findings.map(
    (finding) =>
      `- ${finding.label}${finding.location ? ` (${finding.location})` : ''}${finding.sizeMm ? `, ${finding.sizeMm} mm` : ''}, confidence ${finding.confidencePct}%`,
  );
  const lines = [`Impression: ${card.impression}`, `Urgency: ${card.urgency}`];
  if (findings.length > 0) lines.push('Findings:', ...findings);
  if (card.recommendations.length > 0) lines.push(`Recommendations: ${card.recommendations.join('; ')}`);
  return { role: 'assistant', text: lines.join('\n') };
}
