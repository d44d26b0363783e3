import { describe, expect, it } from 'vitest';
import { clipText, hasLoneSurrogate, safeCutIndex, splitText } from '../../../src/net/text-clip.ts';

/** Emoji are surrogate pairs in UTF-16: with mixed widths, every limit lands inside one somewhere. */
const mixed = 'a🫁b🩻🧠 c😷de🫁 '.repeat(40);

describe('surrogate-safe clipping', () => {
  it('clips at every limit without a lone surrogate, within the limit, marking the cut', () => {
    for (let max = 1; max <= 80; max++) {
      const clipped = clipText(mixed, max);
      expect(clipped.length).toBeLessThanOrEqual(max);
      expect(hasLoneSurrogate(clipped)).toBe(false);
      expect(clipped.endsWith('…')).toBe(true);
    }
    expect(clipText('short', 10)).toBe('short');
  });

  it('splits at every limit into pieces within it, dropping nothing but whitespace at cuts', () => {
    for (let max = 2; max <= 80; max++) {
      const chunks = splitText(mixed, max);
      for (const chunk of chunks) {
        expect(chunk.length).toBeLessThanOrEqual(max);
        expect(hasLoneSurrogate(chunk)).toBe(false);
      }
      expect(chunks.join('').replace(/\s+/g, '')).toBe(mixed.replace(/\s+/g, ''));
    }
  });

  it('never points between the halves of a pair', () => {
    const pair = '🫁';
    expect(safeCutIndex(`a${pair}`, 2)).toBe(1);
    expect(safeCutIndex(`a${pair}`, 3)).toBe(3);
    expect(hasLoneSurrogate(`a${pair}`.slice(0, 2))).toBe(true);
  });
});
