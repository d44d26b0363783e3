import type { App, types } from '@slack/bolt';
import type { BotCore, HandleOutcome, QueueSnapshot } from '../../src/core/adapter.ts';
import type { OutboundMessage } from '../../src/core/reply.ts';
import type { InboundRequest, ThreadRef } from '../../src/core/types.ts';
import { AppError, isAppError } from '../../src/errors.ts';
import type { Logger } from '../../src/log.ts';
import { ACTION_IDS, renderMessage } from './render.ts';
import {
  classifyMessage,
  messageToRequest,
  parseSlashText,
  type SlackMessageEvent,
  type SlackMessageShortcut,
  shortcutToRequest,
  threadOf,
} from './to-request.ts';

/**
 * Bolt listeners. They run before the ack (processBeforeResponse), so each one does only what must
 * precede it — map, dedupe, `core.handle` (which persists and returns) — and pushes any reply to
 * `background`, never awaiting a post inside the 3-second window.
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
  /** ALLOWED_CHANNELS / ALLOWED_USERS for a channel and user (src/core/policy.ts). */
  allowed: (channelId: string, userId: string) => boolean;
}

/** Remembers message keys and event ids for a while: Slack retries for up to ~1 hour, in 3 attempts. */
function createSeen(limit = 10_000) {
  const keys = new Map<string, Promise<HandleOutcome | undefined>>();
  return {
    get: (key: string) => keys.get(key),
    set(key: string, value: Promise<HandleOutcome | undefined>) {
      keys.set(key, value);
      if (keys.size > limit) keys.delete(keys.keys().next().value!);
    },
    delete: (key: string) => keys.delete(key),
  };
}

const hint: OutboundMessage = {
  kind: 'info',
  title: 'Nothing to read yet',
  lines: [
    'Attach a scan (PNG, JPEG, TIFF or DICOM) to the message that mentions me,',
    'or use the message menu → "Read this scan" on a message that holds one.',
  ],
};

export function queueInfo(snapshot: QueueSnapshot): OutboundMessage {
  return {
    kind: 'info',
    title: 'quickread queue',
    lines: [
      `${snapshot.queued} waiting · ${snapshot.running} being read · next read in about ${Math.round(snapshot.etaSec)} s`,
      snapshot.engineUp ? 'Model server: up' : 'Model server: unreachable — requests wait in the queue',
      `Model ${snapshot.model} · prompt ${snapshot.promptVersion}`,
    ],
  };
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
  const seen = createSeen();
  const hinted = createSeen();
  const now = () => new Date(deps.clock()).toISOString();

  /**
   * One core.handle per message key and per event id. The same message arrives as app_mention and as
   * message, and Slack retries (X-Slack-Retry-Num) reuse the event id; concurrent copies await the
   * first. An `ignored` outcome is forgotten, so a later copy that carries the files still counts.
   */
  async function handleOnce(request: InboundRequest): Promise<HandleOutcome | undefined> {
    const earlier = seen.get(request.messageKey) ?? seen.get(request.eventId);
    if (earlier) {
      const outcome = await earlier;
      // Still remembered after it settled means it was not `ignored`: this copy is a duplicate.
      if (
        seen.get(request.messageKey) === earlier ||
        seen.get(request.eventId) === earlier ||
        outcome?.kind !== 'ignored'
      ) {
        return { kind: 'duplicate' };
      }
    }
    const pending = deps.core().handle(request);
    seen.set(request.messageKey, pending);
    seen.set(request.eventId, pending);
    let outcome: HandleOutcome;
    try {
      outcome = await pending;
    } catch (error) {
      seen.delete(request.messageKey);
      seen.delete(request.eventId);
      deps.logger.error({ err: error, eventId: request.eventId }, 'slack: request not stored; not acked');
      // Not durable, so not acknowledged: the listener fails, Bolt answers 5xx (or Socket Mode sends
      // no ack) and Slack delivers the event again (Events API retries, api.slack.com/apis/events-api).
      throw notStored(error);
    }
    if (outcome.kind === 'ignored') {
      seen.delete(request.messageKey);
      seen.delete(request.eventId);
    }
    return outcome;
  }

  function answer(request: InboundRequest, outcome: HandleOutcome | undefined, direct: boolean): void {
    if (!outcome) {
      deps.background(
        deps.notify(request.thread, request.userId, {
          kind: 'error',
          code: 'INTERNAL',
          text: 'quickread could not take this request just now; please try again in a minute.',
        }),
      );
      return;
    }
    if (outcome.kind === 'refused') {
      deps.background(
        deps.notify(request.thread, request.userId, {
          kind: 'error',
          code: outcome.code,
          text: outcome.text,
        }),
      );
    } else if (
      outcome.kind === 'ignored' &&
      outcome.reason === 'no-image' &&
      direct &&
      !hinted.get(request.messageKey)
    ) {
      hinted.set(request.messageKey, Promise.resolve(undefined));
      deps.background(deps.notify(request.thread, request.userId, hint));
    }
  }

  async function onMessage(event: SlackMessageEvent, eventId: string): Promise<void> {
    const trigger = classifyMessage(event, deps.botUserId());
    if (trigger.kind === 'none') return;
    if (trigger.kind === 'thread-candidate') {
      const active = await deps
        .core()
        .isActiveThread('slack', threadOf(event.channel, event.ts, event.thread_ts));
      if (!active) return;
    }
    const request = messageToRequest(event, { eventId, botUserId: deps.botUserId(), receivedAt: now() });
    const outcome = await handleOnce(request);
    answer(request, outcome, trigger.kind === 'direct');
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
    if (request.attachments.length === 0) {
      await ack();
      deps.background(deps.notify(request.thread, request.userId, hint));
      return;
    }
    // Persist first, then ack (issue #5: a job is stored before the platform is acknowledged).
    const outcome = await handleOnce(request);
    await ack();
    if (outcome?.kind === 'duplicate') {
      deps.background(
        deps.notify(request.thread, request.userId, {
          kind: 'info',
          title: 'Already on it',
          lines: ['This scan is already being read (or was read) — see its thread.'],
        }),
      );
      return;
    }
    answer(request, outcome, true);
  });

  app.command(SLASH_COMMAND, async ({ command, ack }) => {
    // The same allow-list as reads: outside it, the command says so and shows nothing else.
    if (!deps.allowed(command.channel_id, command.user_id)) {
      const refused = renderMessage({
        kind: 'error',
        code: 'NOT_ALLOWED',
        text: new AppError('NOT_ALLOWED', '/quickread outside the allow-list').userMessage,
      });
      await ack({ response_type: 'ephemeral', text: refused.text, blocks: refused.blocks });
      return;
    }
    const action = parseSlashText(command.text);
    const message =
      action === 'status' ? queueInfo(deps.core().queueStatus()) : deps.core().helpText('slack');
    const rendered = renderMessage(message);
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
   * Acknowledge: the core records who and when and re-renders the card in place (adapter.update), so the
   * listener only acks and hands the work to the background — a Slack edit never delays the ack.
   */
  app.action({ action_id: ACTION_IDS.acknowledge }, async ({ ack, body, action }) => {
    await ack();
    const actions = body as unknown as BlockActionBody;
    const jobId = (action as { value?: string }).value ?? '';
    deps.background(
      deps
        .core()
        .acknowledge(jobId, actions.user.id)
        .then(
          (result) =>
            result
              ? undefined
              : tellPresser(actions, {
                  kind: 'error',
                  code: 'USAGE',
                  text: 'That read can no longer be acknowledged.',
                }),
          // e.g. NOT_ALLOWED: the presser is not on ALLOWED_USERS — tell them, privately.
          (error: unknown) =>
            tellPresser(actions, {
              kind: 'error',
              code: isAppError(error) ? error.code : 'INTERNAL',
              text: isAppError(error) ? error.userMessage : 'That read could not be acknowledged.',
            }),
        ),
    );
  });

  for (const [actionId, vote] of [
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
          .feedback(jobId, actions.user.id, vote)
          .then(
            () =>
              tellPresser(actions, {
                kind: 'info',
                title: 'Thanks — feedback recorded',
                lines: ['It is stored with this read to help calibrate confidence.'],
              }),
            (error: unknown) =>
              tellPresser(actions, {
                kind: 'error',
                code: 'USAGE',
                text: isAppError(error) ? error.userMessage : 'That feedback could not be recorded.',
              }),
          ),
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
