import { afterEach, describe, expect, it, vi } from 'vitest';
import { createInteractionRegistry, INTERACTION_WINDOW_MS } from '../../../adapters/discord/interactions.ts';

/** The /read interaction registry: the token's window, the thread on the response, and its head. */

afterEach(() => {
  vi.useRealTimers();
});

function setup() {
  vi.useFakeTimers();
  let now = 1_000_000;
  const registry = createInteractionRegistry(() => now);
  const context = registry.add({ id: '1', token: 't', applicationId: 'a', channelId: 'c', createdAt: now });
  context.deferred = Promise.resolve(true);
  return {
    registry,
    context,
    advance(ms: number) {
      now += ms;
      vi.advanceTimersByTime(ms);
    },
  };
}

describe('interaction registry', () => {
  it('finds the live context by the thread started on its response, until the window closes', async () => {
    const { registry, advance } = setup();
    expect(await registry.liveForThread('m1')).toBeUndefined();
    registry.bindThread('1', 'm1');
    expect((await registry.liveForThread('m1'))?.token).toBe('t');
    advance(INTERACTION_WINDOW_MS);
    expect(await registry.liveForThread('m1')).toBeUndefined();
  });

  it('a failed deferral is never live', async () => {
    const { registry, context } = setup();
    context.deferred = Promise.resolve(false);
    registry.bindThread('1', 'm1');
    expect(await registry.liveForThread('m1')).toBeUndefined();
  });

  it('the head is taken exactly once, also when the job outlives the context (the token is dropped)', () => {
    const { registry, advance } = setup();
    registry.bindThread('1', 'm1');
    expect(registry.takeHead('other')).toBe(false);
    advance(INTERACTION_WINDOW_MS + 61_000); // the context and its token are gone
    expect(registry.get('1')).toBeUndefined();
    expect(registry.takeHead('m1')).toBe(true);
    expect(registry.takeHead('m1')).toBe(false);
  });

  it('a head taken inside the window stays taken after it', () => {
    const { registry, advance, context } = setup();
    registry.bindThread('1', 'm1');
    expect(registry.takeHead('m1')).toBe(true);
    expect(context.originalUsed).toBe(true);
    advance(INTERACTION_WINDOW_MS + 61_000);
    expect(registry.takeHead('m1')).toBe(false);
  });
});
