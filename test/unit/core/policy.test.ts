import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.ts';
import {
  isAllowed,
  isCancelCommand,
  priorityOf,
  STAT_PRIORITY,
  userMessageIdOf,
} from '../../../src/core/policy.ts';
import { request } from './setup.ts';

describe('request policy', () => {
  it('makes STAT channels and "stat"/"urgent" questions jump the queue, not words that contain them', () => {
    const config = loadConfig({ STAT_CHANNELS: 'ed-resus,slack:C0STAT' });
    const at = (channelId: string, question = 'nodule?', platform: 'slack' | 'console' = 'console') =>
      priorityOf(config, { platform, thread: { channelId, threadId: 't' }, question });
    expect(at('ed-resus')).toBe(STAT_PRIORITY);
    expect(at('C0STAT', 'x', 'slack')).toBe(STAT_PRIORITY);
    expect(at('C0STAT', 'x', 'console')).toBe(0);
    expect(at('ward', 'STAT: tension pneumothorax?')).toBe(STAT_PRIORITY);
    expect(at('ward', 'urgent please')).toBe(STAT_PRIORITY);
    expect(at('ward', 'what is the status of the line? statistics?')).toBe(0);
    // Negations and questions about the image are not requests to jump the queue.
    expect(at('ward', 'not urgent, just curious')).toBe(0);
    expect(at('ward', 'non-urgent follow-up CT')).toBe(0);
    expect(at('ward', 'any urgent findings?')).toBe(0);
    expect(at('ward', 'is anything urgent here?')).toBe(0);
    expect(at('ward', 'please read urgently, patient crashing')).toBe(STAT_PRIORITY);
  });

  it('applies allow-lists by bare or platform-qualified id', () => {
    const config = loadConfig({ ALLOWED_CHANNELS: 'slack:C1', ALLOWED_USERS: '' });
    expect(
      isAllowed(config, request({ platform: 'slack', thread: { channelId: 'C1', threadId: 't' } })),
    ).toBe(true);
    expect(
      isAllowed(config, request({ platform: 'discord', thread: { channelId: 'C1', threadId: 't' } })),
    ).toBe(false);
    expect(isAllowed(loadConfig({}), request())).toBe(true);
  });

  it('recognises a bare "cancel" and finds the user message id for reactions', () => {
    expect(isCancelCommand(' Cancel. ')).toBe(true);
    expect(isCancelCommand('cancel the CT follow-up?')).toBe(false);
    expect(userMessageIdOf(request({ messageKey: 'slack:C1:1700000000.0001' }))).toBe('1700000000.0001');
    expect(userMessageIdOf(request({ platformData: { messageId: 'm-9' } }))).toBe('m-9');
  });
});
