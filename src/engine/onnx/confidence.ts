import type { Confidence } from '../../core/types.ts';
import type { ModelRead } from '../output.ts';

/**
 * Token-probability confidence for each finding: the geometric mean probability of the tokens that
 * spell its label in the generated JSON (exp of the mean log-probability), so a long label is not
 * penalised for its length. It says how sure the model was of its own wording, not whether the image
 * supports it — the yes/no probe, when it answers, is preferred (DESIGN §3).
 */

export interface ScoredToken {
  text: string;
  logprob: number;
}

/** Character spans of each finding's label value inside `text`, in order; undefined when not found. */
export function labelSpans(text: string, read: ModelRead): Array<[number, number] | undefined> {
  let cursor = 0;
  return read.findings.map((finding) => {
    const key = text.indexOf('"label"', cursor);
    if (key < 0) return undefined;
    const encoded = JSON.stringify(finding.label).slice(1, -1);
    const start = text.indexOf(encoded, key + 7);
    if (start < 0) return undefined;
    cursor = start + encoded.length;
    return [start, start + encoded.length];
  });
}

export function tokenConfidences(
  tokens: readonly ScoredToken[],
  read: ModelRead,
): Array<Confidence | undefined> {
  const text = tokens.map((token) => token.text).join('');
  const offsets: number[] = [];
  let at = 0;
  for (const token of tokens) {
    offsets.push(at);
    at += token.text.length;
  }
  return labelSpans(text, read).map((span) => {
    if (!span) return undefined;
    let sum = 0;
    let count = 0;
    tokens.forEach((token, i) => {
      const start = offsets[i]!;
      const end = start + token.text.length;
      if (end > span[0] && start < span[1] && Number.isFinite(token.logprob)) {
        sum += token.logprob;
        count += 1;
      }
    });
    if (count === 0) return undefined;
    return { value: Math.exp(sum / count), source: 'token-logprob', calibrated: false };
  });
}
