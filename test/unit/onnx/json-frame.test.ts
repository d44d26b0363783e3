import { describe, expect, it } from 'vitest';
import {
  advanceFrame,
  applyFrame,
  frameVocabulary,
  initialFrame,
} from '../../../src/engine/onnx/json-frame.ts';

describe('JSON frame', () => {
  const vocab = frameVocabulary(['The', ' {"a"', '{', '}', '"x}"', '<eos>', ' '], [5]);

  it('allows only tokens that open an object before the answer starts', () => {
    const logits = new Float32Array(7).fill(1);
    applyFrame(initialFrame(), vocab, logits);
    expect(Array.from(logits).map((v) => v > Number.NEGATIVE_INFINITY)).toEqual([
      false,
      true,
      true,
      false,
      false,
      false,
      false,
    ]);
  });

  it('tracks depth outside strings, so a brace inside a string does not close the object', () => {
    let state = advanceFrame(initialFrame(), '{"label":"a}b","x":[1,{"y":"\\"}"}]');
    expect(state).toMatchObject({ started: true, depth: 1, closed: false, inString: false });
    state = advanceFrame(state, '}');
    expect(state.closed).toBe(true);
  });

  it('allows only end-of-sequence once the object has closed, and nothing is masked in between', () => {
    const open = advanceFrame(initialFrame(), '{"a":');
    const middle = new Float32Array(7).fill(1);
    applyFrame(open, vocab, middle);
    expect(Array.from(middle).every((v) => v === 1)).toBe(true);
    const done = new Float32Array(7).fill(1);
    applyFrame(advanceFrame(open, '1}'), vocab, done);
    expect(Array.from(done).map((v) => v > Number.NEGATIVE_INFINITY)).toEqual([
      false,
      false,
      false,
      false,
      false,
      true,
      false,
    ]);
  });

  it('leaves a vocabulary without any opening brace alone', () => {
    const none = frameVocabulary(['a', 'b'], [1]);
    const logits = new Float32Array([0.5, 0.25]);
    applyFrame(initialFrame(), none, logits);
    expect(Array.from(logits)).toEqual([0.5, 0.25]);
  });
});
