/**
 * Repetition loops: small VLMs sometimes repeat a phrase until max_tokens ("nodule nodule nodule…").
 * max_tokens bounds the cost and a presence penalty makes it rarer; this detector spots what is left
 * so the read can be retried once with a stronger penalty instead of failing on truncated JSON.
 */

const REPEAT = /(.{3,80}?)(?:\s*\1){7,}/su;

export function looksLikeLoop(text: string, finishReason: string | null | undefined): boolean {
  if (finishReason === 'length') return true;
  // Only the tail matters (a loop runs to the end) and bounding it keeps the regex cheap.
  return REPEAT.test(text.slice(-3000));
}
