import { longReadText, type ReadCard } from '../../src/core/reply.ts';
import { AppError } from '../../src/errors.ts';
import type { Logger } from '../../src/log.ts';
import { plainTextOf, plainTextRead, planRead } from './read-plan.ts';
import { renderMessage, type SlackRendered } from './render.ts';

/**
 * Sending a read so that it always lands (issue 16). The head message (the edited status message, or a
 * new post) gets the planned card; if Slack refuses it — `invalid_blocks`, `msg_blocks_too_long` or any
 * other platform error — the same read goes as text-only messages. If even that is refused, the head is
 * edited into an error that names Slack's reason, so it is never left at "reading…". Network failures
 * are not refusals: they are thrown for the caller to retry.
 */

/** Sends one message (edit or post) and answers its ts when Slack gives one. */
export type SlackSend = (message: SlackRendered) => Promise<string | undefined>;

/**
 * Refusals about where the message goes, not what it says (https://docs.slack.dev/reference/methods/
 * chat.update#errors): a text fallback would be refused the same way, so they go to the caller, which
 * posts a new message instead of editing.
 */
const NOT_ABOUT_CONTENT = new Set([
  'message_not_found',
  'cant_update_message',
  'edit_window_closed',
  'channel_not_found',
  'not_in_channel',
  'is_archived',
  'invalid_auth',
  'token_revoked',
  'account_inactive',
]);

/**
 * Slack's error code when the WebClient error is a refusal of the message's content (not a network
 * failure, not a message or channel that cannot take it).
 */
export function slackRefusal(error: unknown): string | undefined {
  const { code, data } = (error ?? {}) as { code?: string; data?: { error?: unknown } };
  if (code !== 'slack_webapi_platform_error') return undefined;
  const reason = typeof data?.error === 'string' ? data.error : 'unknown_error';
  return NOT_ABOUT_CONTENT.has(reason) ? undefined : reason;
}

export interface HeadOutcome {
  ts: string | undefined;
  /** Messages still to post in the thread, in order. */
  followUps: SlackRendered[];
}

export async function sendReadHead(card: ReadCard, send: SlackSend, logger: Logger): Promise<HeadOutcome> {
  const [head, ...rest] = planRead(card);
  let refusal: string;
  try {
    return { ts: await send(head!), followUps: rest };
  } catch (error) {
    const code = slackRefusal(error);
    if (!code) throw error;
    refusal = code;
    logger.warn({ job: card.jobId, slackError: code }, 'slack refused the read card; sending it as text');
  }
  const plain = plainTextRead(card).map((text): SlackRendered => ({ text, blocks: [] }));
  try {
    return { ts: await send(plain[0]!), followUps: plain.slice(1) };
  } catch (error) {
    const code = slackRefusal(error);
    if (!code) throw error;
    refusal = `${refusal}, then ${code}`;
  }
  logger.error({ job: card.jobId, slackError: refusal }, 'slack refused the read as blocks and as text');
  const text = longReadText.refused('Slack', refusal, card.jobId);
  await send(renderMessage({ kind: 'error', jobId: card.jobId, code: 'CHAT_API_FAILED', text }));
  throw new AppError('CHAT_API_FAILED', `slack refused the read: ${refusal}`, {
    retryable: false,
    details: { slackError: refusal },
  });
}

/**
 * Post the continuation messages in order. One that Slack refuses goes as text; one that still fails is
 * logged and the rest still go (stopping would hide everything after it). Nothing is thrown: the head is
 * delivered, and a retry by the caller would post the continuations twice.
 */
export async function sendFollowUps(
  messages: SlackRendered[],
  post: SlackSend,
  logger: Logger,
): Promise<void> {
  for (const message of messages) {
    try {
      await post(message);
    } catch (error) {
      const code = slackRefusal(error);
      if (!code) {
        logger.error({ err: error }, 'continuation not delivered (network)');
        continue;
      }
      logger.warn({ slackError: code }, 'slack refused a continuation; sending it as text');
      for (const text of plainTextOf(message)) {
        await post({ text, blocks: [] }).catch((again: unknown) =>
          logger.error({ slackError: slackRefusal(again) ?? 'network' }, 'continuation not delivered'),
        );
      }
    }
  }
}
