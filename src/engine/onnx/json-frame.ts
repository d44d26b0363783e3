/**
 * A light structural constraint for reads: the answer must open with `{` and ends as soon as that
 * top-level object closes. The HTTP engines get full JSON-Schema guided decoding from the server
 * (vLLM `response_format`); here the schema is still enforced by zod with one repair turn, and this
 * frame removes the two commonest failures of small models — prose or a code fence before the JSON,
 * and text (or a repetition loop) after it — by masking logits: before the first token only tokens
 * whose text starts with `{` are allowed; once the object has closed only end-of-sequence is.
 */

export interface JsonFrameState {
  started: boolean;
  depth: number;
  inString: boolean;
  escaped: boolean;
  closed: boolean;
}

export const initialFrame = (): JsonFrameState => ({
  started: false,
  depth: 0,
  inString: false,
  escaped: false,
  closed: false,
});

/** Advance the brace/string state over generated text (RFC 8259 string escapes). */
export function advanceFrame(state: JsonFrameState, text: string): JsonFrameState {
  const next = { ...state };
  for (const char of text) {
    if (next.closed) break;
    if (!next.started) {
      if (char === '{') {
        next.started = true;
        next.depth = 1;
      }
      continue;
    }
    if (next.inString) {
      if (next.escaped) next.escaped = false;
      else if (char === '\\') next.escaped = true;
      else if (char === '"') next.inString = false;
      continue;
    }
    if (char === '"') next.inString = true;
    else if (char === '{' || char === '[') next.depth += 1;
    else if (char === '}' || char === ']') {
      next.depth -= 1;
      if (next.depth === 0) next.closed = true;
    }
  }
  return next;
}

/**
 * Per-vocabulary masks, computed once per model: which ids may open the answer (text starting with
 * optional whitespace then `{`), and which ids end it.
 */
export interface FrameVocabulary {
  texts: readonly string[];
  openers: Uint8Array;
  /** False for a vocabulary with no `{` token: it cannot be framed, validation alone decides. */
  canOpen: boolean;
  eos: readonly number[];
}

export function frameVocabulary(texts: readonly string[], eos: readonly number[]): FrameVocabulary {
  const openers = new Uint8Array(texts.length);
  let canOpen = false;
  texts.forEach((text, id) => {
    if (/^\s*\{/u.test(text)) {
      openers[id] = 1;
      canOpen = true;
    }
  });
  return { texts, openers, canOpen, eos };
}

/** Mask the row of logits in place for the current state. */
export function applyFrame(
  state: JsonFrameState,
  vocab: FrameVocabulary,
  logits: Float32Array | Float64Array,
): void {
  if (!state.started) {
    if (!vocab.canOpen) return;
    for (let id = 0; id < logits.length; id++) if (!vocab.openers[id]) logits[id] = Number.NEGATIVE_INFINITY;
    return;
  }
  if (state.closed && vocab.eos.length > 0) {
    const keep = new Set(vocab.eos);
    for (let id = 0; id < logits.length; id++) if (!keep.has(id)) logits[id] = Number.NEGATIVE_INFINITY;
  }
}
