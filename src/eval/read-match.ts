/**
 * How a labelled finding is asked about and recognised in a free-text read. The probe asks the same
 * question as a read's own probes ("Is this finding present in the image: <finding>?"); "normal" is
 * asked as the absence of any finding, since "is normal present" is not a question a model parses well.
 */

export const NORMAL = 'normal';

export function probeText(finding: string): string {
  return finding === NORMAL ? 'no abnormality at all (a normal study)' : finding;
}

/** What the eval keeps of a read: enough to score the free-text answer, no image or question. */
export interface ReadSummary {
  findings: Array<{
    label: string;
    location?: string;
    confidence: number;
    source: string;
    grounded?: boolean;
  }>;
  impression: string;
  urgency: 'routine' | 'urgent' | 'critical';
}

const NEGATION = /\b(?:no|not|without|negative for|free of|absent|absence of|resolved|ruled out)\b/i;

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The finding's words, allowing a plural ("nodule" matches "nodules", "effusion" "effusions"). */
function mentionPattern(finding: string): RegExp {
  return new RegExp(`\\b${escapeRegExp(finding)}(?:e?s)?\\b`, 'i');
}

/**
 * Whether the read names the finding: in a listed finding's label, or in a sentence of the impression
 * that does not negate it before the mention ("No pneumothorax." is not a hit). "normal" is named when
 * the read lists no finding at all.
 */
export function namedInRead(finding: string, read: ReadSummary): boolean {
  if (finding === NORMAL) return read.findings.length === 0;
  const pattern = mentionPattern(finding);
  if (read.findings.some((listed) => pattern.test(listed.label))) return true;
  for (const sentence of read.impression.split(/(?<=[.;!?])\s+|\n+/)) {
    const match = pattern.exec(sentence);
    if (match && !NEGATION.test(sentence.slice(0, match.index))) return true;
  }
  return false;
}
