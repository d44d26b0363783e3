import { describe, expect, it } from 'vitest';
import { mayThread } from '../../../adapters/discord/read-thread.ts';

/** app_permissions (a bitfield string, "Permissions → Bitwise Permission Flags") → may start a thread. */

const INVITE = 309237763136n; // the README's invite set: View, Send, Send in Threads, Create Public Threads…

describe('mayThread', () => {
  it('needs both Create Public Threads (1 << 35) and Send Messages in Threads (1 << 38)', () => {
    expect(mayThread(INVITE.toString())).toBe(true);
    expect(mayThread((INVITE & ~(1n << 35n)).toString())).toBe(false);
    expect(mayThread((INVITE & ~(1n << 38n)).toString())).toBe(false);
    expect(mayThread('0')).toBe(false);
  });

  it('Administrator implies them; unknown or unreadable permissions mean "try"', () => {
    expect(mayThread((1n << 3n).toString())).toBe(true);
    expect(mayThread(undefined)).toBe(true);
    expect(mayThread('not a number')).toBe(true);
  });
});
