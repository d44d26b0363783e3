/**
 * Cutting text to a platform's limit without breaking a character (in src/net: what the adapters share
 * for talking to platforms). Slack and Discord count limits in UTF-16 code units (JavaScript's `length`, the stricter reading of "characters"); a cut between the
 * two halves of a surrogate pair leaves a lone surrogate, which renders as � or makes the platform
 * reject the whole message as invalid UTF-8 once encoded. Every cut here lands between code points.
 */

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;

/** The largest index ≤ `index` that does not fall between the halves of a surrogate pair. */
export function safeCutIndex(text: string, index: number): number {
  if (index <= 0) return 0;
  if (index >= text.length) return text.length;
  return isHighSurrogate(text.charCodeAt(index - 1)) ? index - 1 : index;
}

/** Cut to at most `max` UTF-16 units, ending with "…" when something was dropped. */
export function clipText(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max <= 0) return '';
  return `${text.slice(0, safeCutIndex(text, max - 1))}…`;
}

/**
 * Split into chunks of at most `max` UTF-16 units, nothing dropped: cut at the last line break, else the
 * last space, in the second half of the window, else at the limit (between code points). Whitespace at
 * a cut is dropped; joining the chunks with a space or a newline gives back the words.
 */
export function splitText(text: string, max: number): string[] {
  if (max < 2) throw new RangeError('splitText needs room for a surrogate pair');
  const chunks: string[] = [];
  let rest = text;
  while (rest.length > max) {
    let cut = rest.lastIndexOf('\n', max);
    if (cut < max / 2) cut = rest.lastIndexOf(' ', max);
    if (cut < max / 2) cut = safeCutIndex(rest, max);
    const head = rest.slice(0, cut).trimEnd();
    if (head.length > 0) chunks.push(head);
    rest = rest.slice(cut).trimStart();
  }
  if (rest.length > 0 || chunks.length === 0) chunks.push(rest);
  return chunks;
}

/** True when the text holds a lone surrogate (what a bad cut leaves behind). */
export function hasLoneSurrogate(text: string): boolean {
  return /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text);
}
