import type { BotCore, HandleOutcome } from '../../src/core/adapter.ts';
import type { OutboundMessage } from '../../src/core/reply.ts';
import type { ThreadRef } from '../../src/core/types.ts';
import { AppError, isAppError } from '../../src/errors.ts';
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
  /** ALLOWED_CHANNELS / ALLOWED_USERS for a channel and user (src/core/policy.ts). */
  allowed(channelId: string, userId: string): boolean;
  post(thread: ThreadRef, message: OutboundMessage): Promise<unknown>;
  /** Collect the card the core renders for `messageId` while `work` runs (acknowledge re-renders it). */
  captureUpdate(messageId: string, work: () => Promise<unknown>): Promise<CardAttachment | undefined>;
  clock(): number;
  logger: Logger;
}

/** The body of an invoke response: https://learn.microsoft.com/…/universal-actions-for-adaptive-cards/work-with-universal-actions-for-adaptive-cards#response-format */
export type InvokeResponse =
  | { statusCode: 200; type: typeof ADAPTIVE_CARD; value: CardAttachment['content'] }
  | { statusCode: 200; type: 'application/vnd.microsoft.activity.message'; value: string }
  | { statusCode: 400; type: 'application/vnd.microsoft.error'; value: { code: string; message: string } };

const HOW_TO: OutboundMessage = {
  kind: 'info',
  title: 'Attach an image',
  lines: [
    'Mention me in a channel message with the image pasted in, or send me a DICOM or image file in a personal chat.',
    'Reply in the same thread to ask a follow-up question about that image.',
  ],
};

function settle(outcome: HandleOutcome): string {
  return outcome.kind === 'ignored' ? `ignored:${outcome.reason}` : outcome.kind;
}

export async function onMessage(activity: TeamsActivity, deps: InboundDeps): Promise<void> {
  if (!activity.from?.id || activity.from.id === activity.recipient?.id) return;
  const request = activityToRequest(activity, new Date(deps.clock()).toISOString());
  if (!request) return;
  const personal = activity.conversation?.conversationType === 'personal';
  const mentioned = mentionsBot(activity);
  const active = await deps.core.isActiveThread('teams', request.thread);
  if (!mentioned && !active && !(personal && request.attachments.length > 0)) return;
  if ((mentioned || personal) && request.attachments.length === 0 && /^help\b/i.test(request.question)) {
    // The manifest's `help` command; outside the allow-list it says so and shows nothing else.
    await deps.post(
      request.thread,
      deps.allowed(request.thread.channelId, request.userId)
        ? deps.core.helpText('teams')
        : {
            kind: 'error',
            code: 'NOT_ALLOWED',
            text: new AppError('NOT_ALLOWED', 'help outside the allow-list').userMessage,
          },
    );
    return;
  }
  const outcome = await deps.core.handle(request);
  deps.logger.info({ eventId: request.eventId, outcome: settle(outcome) }, 'teams message handled');
  if (outcome.kind === 'refused')
    await deps.post(request.thread, { kind: 'error', code: outcome.code, text: outcome.text });
  else if (outcome.kind === 'ignored' && outcome.reason === 'no-image' && (mentioned || personal))
    await deps.post(request.thread, HOW_TO);
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
  if (action?.type !== 'Action.Execute' || typeof jobId !== 'string' || !userId)
    return {
      statusCode: 400,
      type: 'application/vnd.microsoft.error',
      value: { code: 'BadRequest', message: 'not a quickread action' },
    };
  if (action.verb === 'ack') {
    let acknowledged: { at: string } | undefined;
    const card = await deps.captureUpdate(activity.replyToId ?? '', async () => {
      acknowledged = await deps.core.acknowledge(jobId, userId).catch((error: unknown) => {
        deps.logger.warn({ err: error, eventId: activity.id }, 'teams acknowledge failed');
        return undefined;
      });
    });
    if (!acknowledged) return message('This read can no longer be acknowledged.');
    // The core re-rendered the card (PUT for everyone); the clicker sees it at once from this response.
    return card ? { statusCode: 200, type: ADAPTIVE_CARD, value: card.content } : message('Acknowledged.');
  }
  if (action.verb === 'up' || action.verb === 'down') {
    try {
      await deps.core.feedback(jobId, userId, action.verb);
    } catch (error) {
      return message(isAppError(error) ? error.userMessage : 'Your feedback could not be recorded.');
    }
    return message(`Thanks — your ${action.verb === 'up' ? '👍' : '👎'} was recorded for this read.`);
  }
  return message('That action is not known to quickread.');
}
