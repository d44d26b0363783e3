import type { App, types } from '@slack/bolt';
import type { BotCore, HandleOutcome } from '../../src/core/adapter.ts';
import type { OutboundMessage } from '../../src/core/reply.ts';
import type { InboundRequest, ThreadRef } from '../../src/core/types.ts';
import { AppError } from '../../src/errors.ts';
import type { Logger } from '../../src/log.ts';
import { ACTION_IDS, renderMessage } from './render.ts';
import {
  classifyMessage,
  messageToRequest,
  parseSlashText,
  type SlackMessageEvent,
  type SlackMessageShortcut,
  shortcutToRequest,
} from './to-request.ts';

/**
 * Bolt listeners. They run before the ack (processBeforeResponse), so each one does only what must
 * precede it — map, then `core.handle` (which dedupes, persists and returns) — and pushes any reply
 * to `background`, never awaiting a post inside the 3-second window.
 */

export const SHORTCUT_CALLBACK_ID = 'read_scan';
export const SLASH_COMMAND = '/quickread';

export interface ListenerDeps {
  core: () => BotCore;
  botUserId: () => string | undefined;
  clock: () => number;
  logger: Logger;
  notify: (thread: ThreadRef, userId: string, message: OutboundMessage) => Promise<void>;
  background: (task: Promise<unknown>) => void;
}

/** Marks a request the core could not persist; the App's error handler turns it into a non-ack. */
export function notStored(cause: unknown): AppError {
  return new AppError('INTERNAL', 'slack request not stored', {
    cause,
    retryable: true,
    details: { notStored: true },
  });
}

export function isNotStored(error: unknown): boolean {
  const original = (error as { original?: unknown } | undefined)?.original ?? error;
  return original instanceof AppError && original.details.notStored === true;
}

export function registerListeners(app: App, deps: ListenerDeps): void {
  const now = () => new Date(deps.clock()).toISOString();

  /** The core stores (and dedupes) the request; the sender is told whatever the core says to tell. */
  async function handle(request: InboundRequest): Promise<HandleOutcome> {
    try {
      return await deps.core().handle(request);
    } catch (error) {
      deps.logger.error({ err: error, eventId: request.eventId }, 'slack: request not stored; not acked');
      // Not durable, so not acknowledged: the listener fails, Bolt answers 5xx (or Socket Mode sends
      // no ack) and Slack delivers the event again (Events API retries, api.slack.com/apis/events-api).
      throw notStored(error);
    }
  }

  function tell(request: InboundRequest, message: OutboundMessage | undefined): void {
    if (message) deps.background(deps.notify(request.thread, request.userId, message));
  }

  async function onMessage(event: SlackMessageEvent, eventId: string): Promise<void> {
    const trigger = classifyMessage(event, deps.botUserId());
    if (trigger.kind === 'none') return;
    const request = messageToRequest(event, { eventId, botUserId: deps.botUserId(), receivedAt: now() });
    const outcome = await handle({ ...request, trigger: trigger.kind === 'direct' ? 'mention' : 'reply' });
    tell(request, outcome.reply);
  }

  app.event('app_mention', async ({ event, body }) => {
    await onMessage(event as unknown as SlackMessageEvent, (body as { event_id: string }).event_id);
  });
  app.event('message', async ({ event, body }) => {
    await onMessage(event as unknown as SlackMessageEvent, (body as { event_id: string }).event_id);
  });

  app.shortcut({ callback_id: SHORTCUT_CALLBACK_ID, type: 'message_action' }, async ({ shortcut, ack }) => {
    const request = shortcutToRequest(shortcut as unknown as SlackMessageShortcut, {
      botUserId: deps.botUserId(),
      receivedAt: now(),
    });
    // Persist first, then ack (issue #5: a job is stored before the platform is acknowledged).
    const outcome = await handle({ ...request, trigger: 'menu' });
    await ack();
    tell(request, outcome.reply);
  });

  app.command(SLASH_COMMAND, async ({ command, ack }) => {
    const rendered = renderMessage(
      deps.core().command({
        kind: parseSlashText(command.text),
        platform: 'slack',
        channelId: command.channel_id,
        userId: command.user_id,
      }),
    );
    await ack({ response_type: 'ephemeral', text: rendered.text, blocks: rendered.blocks });
  });

  /** Where to answer a button press privately: the card's thread. */
  function threadOfAction(actions: BlockActionBody): ThreadRef | undefined {
    const channel = actions.container?.channel_id ?? actions.channel?.id;
    const threadTs = actions.message?.thread_ts ?? actions.container?.message_ts ?? actions.message?.ts;
    return channel && threadTs ? { channelId: channel, threadId: threadTs } : undefined;
  }

  function tellPresser(actions: BlockActionBody, message: OutboundMessage): Promise<void> {
    const thread = threadOfAction(actions);
    return thread ? deps.notify(thread, actions.user.id, message) : Promise.resolve();
  }

  /**
   * Card buttons: the listener acks and hands the work to the background — a Slack edit never delays
   * the ack. The core re-renders an acknowledged card in place (adapter.update) and says what to tell
   * the presser (thanks, or why not), privately.
   */
  for (const [actionId, kind] of [
    [ACTION_IDS.acknowledge, 'acknowledge'],
    [ACTION_IDS.notCritical, 'not-critical'],
    [ACTION_IDS.up, 'up'],
    [ACTION_IDS.down, 'down'],
  ] as const) {
    app.action({ action_id: actionId }, async ({ ack, body, action }) => {
      await ack();
      const actions = body as unknown as BlockActionBody;
      const jobId = (action as { value?: string }).value ?? '';
      deps.background(
        deps
          .core()
          .act({ kind, platform: 'slack', jobId, userId: actions.user.id })
          .then((outcome) => (outcome.reply ? tellPresser(actions, outcome.reply) : undefined)),
      );
    });
  }
}

interface BlockActionBody {
  user: { id: string };
  channel?: { id: string };
  container?: { channel_id?: string; message_ts?: string };
  message?: { ts: string; thread_ts?: string; text?: string; blocks?: types.KnownBlock[] };
}
