import { describe, expect, it } from 'vitest';
import {
  abortableSleep,
  backoffMs,
  errorMessageOf,
  isOutOfMemoryText,
  parseRetryAfter,
} from '../../../src/engine/http.ts';

describe('engine HTTP failure handling', () => {
  it('reads Retry-After as delay-seconds or an HTTP-date (RFC 9110 §10.2.3)', () => {
    const now = Date.parse('2026-11-25T12:00:00Z');
    expect(parseRetryAfter('7', now)).toBe(7);
    expect(parseRetryAfter('Wed, 25 Nov 2026 12:00:30 GMT', now)).toBe(30);
    expect(parseRetryAfter('Wed, 25 Nov 2026 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter('-3', now)).toBeUndefined();
  });

  it('backs off with jitter, bounded, and honours Retry-After first', () => {
    const retry = { attempts: 3, baseMs: 500, maxWaitMs: 4000 };
    expect(backoffMs(0, 2, { retry, random: () => 0.5 })).toBe(2050);
    expect(backoffMs(0, 600, { retry, random: () => 0 })).toBe(4000);
    expect(backoffMs(3, undefined, { retry, random: () => 1 })).toBe(4000);
    expect(backoffMs(1, undefined, { retry, random: () => 0.5 })).toBe(500);
    expect(backoffMs(1, undefined, { retry, random: () => 0 })).toBe(0);
  });

  it('recognises out-of-memory and context-length errors of vLLM and others', () => {
    expect(isOutOfMemoryText('CUDA out of memory. Tried to allocate 2.00 GiB')).toBe(true);
    expect(
      isOutOfMemoryText("This model's maximum context length is 8192 tokens. However, you requested 9000"),
    ).toBe(true);
    expect(
      isOutOfMemoryText(
        'The decoder prompt (length 9000) is longer than the maximum model length of 8192. Make sure that `max_model_len` is no smaller',
      ),
    ).toBe(true);
    expect(isOutOfMemoryText('Invalid value for temperature')).toBe(false);
  });

  it('reads error text from flat, nested and FastAPI bodies', () => {
    expect(errorMessageOf({ object: 'error', message: 'a', type: 'BadRequestError', code: 400 }, '')).toBe(
      'a',
    );
    expect(errorMessageOf({ error: { message: 'b', type: 'x', code: 400 } }, '')).toBe('b');
    expect(errorMessageOf({ detail: 'c' }, '')).toBe('c');
    expect(errorMessageOf(undefined, 'plain text')).toBe('plain text');
  });

  it('sleeps until aborted', async () => {
    const controller = new AbortController();
    const pending = abortableSleep(10_000, controller.signal);
    controller.abort(new Error('stop'));
    await expect(pending).rejects.toThrow('stop');
  });
});
