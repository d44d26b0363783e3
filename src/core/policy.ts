import type { Config } from '../config.ts';
import type { InboundRequest, Platform } from './types.ts';

/** Does a list (ALLOWED_CHANNELS, STAT_CHANNELS…) name this channel, bare or as `platform:id`? */
const names = (list: readonly string[], platform: Platform, id: string): boolean =>
  list.includes(id) || list.includes(`${platform}:${id}`);

/** ALLOWED_CHANNELS / ALLOWED_USERS: empty means everyone. */
export function isAllowed(config: Config, request: InboundRequest): boolean {
  return isAllowedIn(config, request.platform, request.thread.channelId, request.userId);
}

/** The same rule for a channel and user outside a read (a slash command). */
export function isAllowedIn(config: Config, platform: Platform, channelId: string, userId: string): boolean {
  const channelOk =
    config.ALLOWED_CHANNELS.length === 0 || names(config.ALLOWED_CHANNELS, platform, channelId);
  return channelOk && isUserAllowed(config, platform, userId);
}

/** ALLOWED_USERS for actions on an existing read (Acknowledge, feedback): empty means everyone. */
export function isUserAllowed(config: Config, platform: Platform, userId: string): boolean {
  return config.ALLOWED_USERS.length === 0 || names(config.ALLOWED_USERS, platform, userId);
}

/** Job.priority values: higher runs first; anything above 0 is STAT for the dispatcher. */
export const STAT_PRIORITY = 10;
export const ROUTINE_PRIORITY = 0;

const statWords = /\b(stat|urgent|urgently)\b/gi;
/**
 * Words just before "urgent" that make it a question about the image or a negation, not a request to
 * jump the queue: "not urgent", "non-urgent", "any urgent findings?", "is anything urgent".
 */
const notARequest = /\b(not|non|no|any|anything|is|are|something|nothing)[\s-]+$/i;

/** STAT: a STAT channel, or the requester asked for it ("STAT", "urgent please"), not negated. */
export function priorityOf(
  config: Config,
  request: Pick<InboundRequest, 'platform' | 'thread' | 'question'>,
): number {
  if (names(config.STAT_CHANNELS, request.platform, request.thread.channelId)) return STAT_PRIORITY;
  for (const match of request.question.matchAll(statWords)) {
    const before = request.question.slice(Math.max(0, match.index - 24), match.index);
    if (!notARequest.test(before)) return STAT_PRIORITY;
  }
  return ROUTINE_PRIORITY;
}

/** A message that is only the word "cancel" withdraws the poster's pending request in that thread. */
export const isCancelCommand = (question: string): boolean => /^\s*(cancel|stop)\s*[.!]?\s*$/i.test(question);

/** The message id of the user's own post, for reactions: adapters put it last in the message key. */
export function userMessageIdOf(request: InboundRequest): string {
  const explicit = request.platformData?.messageId;
  if (typeof explicit === 'string' && explicit !== '') return explicit;
  return request.messageKey.slice(request.messageKey.lastIndexOf(':') + 1);
}
