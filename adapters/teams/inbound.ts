import type { ActionOutcome, BotCore, HandleOutcome } from '../../src/core/adapter.ts';
import { type OutboundMessage, plainText } from '../../src/core/reply.ts';
import type { ThreadRef } from '../../src/core/types.ts';
import type { Logger } from '../../src/log.ts';
import type { TeamsActivity } from './activity.ts';
import { ADAPTIVE_CARD, type CardAttachment, type ReadActionData } from './render.ts';
import { activityToRequest, mentionsBot } from './to-request.ts';

/**
 * Verified activities in, BotCore calls out. A message is answered (HTTP 200) only after the core has
 * persisted it, so Teams redelivers anything the bot never took; the core dedupes by activity id.
 * An `adaptiveCard/action` invoke is answered in the same HTTP response (Universal Actions,
 * https://learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/universal-actions-for-adaptive-cards/work-with-universal-actions-for-adaptive-cards).
 */

export interface InboundDeps {
  core: BotCore;
  post(thread: ThreadRef, message: OutboundMessage): Promise<unknown>;
  /**
   * Run `work` and return the card `messageId` shows afterwards: the one the core re-rendered meanwhile
   * (acknowledge does), else the last one this process posted there.
   */
  captureUpdate(messageId: string, work: () => Promise<unknown>): Promise<CardAttachment | undefined>;
  clock(): number;
  logger: Logger;
}

/** The body of an invoke response: https://learn.microsoft.com/…/universal-actions-for-adaptive-cards/work-with-universal-actions-for-adaptive-cards#response-format */
export type InvokeResponse =
  | { statusCode: 200; type: typeof ADAPTIVE_CARD; value: CardAttachment['content'] }
  | { statusCode: 200; type: 'application/vnd.microsoft.activity.message'; value: string }
  | { statusCode: 400; type: 'application/vnd.microsoft.error'; value: { code: string; message: string } };

function settle(outcome: HandleOutcome): string {
  return outcome.kind === 'ignored' ? `ignored:${outcome.reason}` : outcome.kind;
}

export async function onMessage(activity: TeamsActivity, deps: InboundDeps): Promise<void> {
  if (!activity.from?.id || activity.from.id === activity.recipient?.id) return;
  const received = activityToRequest(activity, new Date(deps.clock()).toISOString());
  if (!received) return;
  const personal = activity.conversation?.conversationType === 'personal';
  const addressed = mentionsBot(activity) || (personal && received.attachments.length > 0);
  // Anything else counts only as a follow-up in a thread or chat the core is reading (it checks).
  const request = { ...received, trigger: addressed || personal ? ('mention' as const) : ('reply' as const) };
  if (
    request.trigger === 'mention' &&
    request.attachments.length === 0 &&
    /^help\b/i.test(request.question)
  ) {
    // The manifest's `help` command (the core applies the allow-list).
    const { channelId } = request.thread;
    await deps.post(
      request.thread,
      deps.core.command({ kind: 'help', platform: 'teams', channelId, userId: request.userId }),
    );
    return;
  }
  const outcome = await deps.core.handle(request);
  deps.logger.info({ eventId: request.eventId, outcome: settle(outcome) }, 'teams message handled');
  if (outcome.reply) await deps.post(request.thread, outcome.reply);
}

const message = (value: string): InvokeResponse => ({
  statusCode: 200,
  type: 'application/vnd.microsoft.activity.message',
  value,
});

export async function onCardAction(activity: TeamsActivity, deps: InboundDeps): Promise<InvokeResponse> {
  const action = (
    activity.value as { action?: { type?: string; verb?: string; data?: Partial<ReadActionData> } }
  )?.action;
  const jobId = action?.data?.jobId;
  const userId = activity.from?.aadObjectId ?? activity.from?.id;
  const kind = action?.verb === 'ack' ? 'acknowledge' : action?.verb;
  if (
    action?.type !== 'Action.Execute' ||
    typeof jobId !== 'string' ||
    !userId ||
    (kind !== 'acknowledge' && kind !== 'up' && kind !== 'down')
  )
    return {
      statusCode: 400,
      type: 'application/vnd.microsoft.error',
      value: { code: 'BadRequest', message: 'not a quickread action' },
    };
  let outcome: ActionOutcome = { done: false };
  // Acknowledging re-renders the card through update() (a PUT, for everyone); the clicker also gets
  // that card in this response, so it changes at once.
  const card = await deps.captureUpdate(activity.replyToId ?? '', async () => {
    outcome = await deps.core.act({ kind, platform: 'teams', jobId, userId });
  });
  if (kind === 'acknowledge' && card && outcome.done)
    return { statusCode: 200, type: ADAPTIVE_CARD, value: card.content };
  // A refusal, a vote's thanks; or, for a card this process no longer holds, an empty acknowledgement.
  return message(outcome.reply ? plainText(outcome.reply) : '');
}
