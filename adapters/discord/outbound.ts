import { type APIMessage, MessageFlags, type RawFile } from 'discord.js';
import type { ChatAdapter } from '../../src/core/adapter.ts';
import type { OutboundMessage, PostedRef } from '../../src/core/reply.ts';
import type { ThreadRef } from '../../src/core/types.ts';
import { AppError } from '../../src/errors.ts';
import type { Logger } from '../../src/log.ts';
import type { DiscordApi } from './api.ts';
import type { InteractionContext, InteractionRegistry } from './interactions.ts';
import { sendWithReadFallback } from './plain-read.ts';
import { type DiscordBody, forCreate, PREVIEW_NAME, previewBody, renderOutbound } from './render.ts';
import {
  type ChannelTarget,
  channelSurfaceOf,
  interactionSurfaceOf,
  type Surface,
  threadSurfaceOf,
} from './surfaces.ts';
import { parseInteractionThreadId } from './to-request.ts';

/**
 * Posting, editing and reacting. A Discord "thread" in the core's sense is one of:
 * - a thread channel the bot started on the user's message (thread id = that message's id, which
 *   Discord guarantees: "the created thread and the message it was started from share the same id");
 * - a DM channel (thread id = channel id);
 * - a thread channel the bot started on a /read command's response (thread id = that response's
 *   id): the first post replaces the deferred "thinking…" response (the thread's head) while the
 *   15-minute token lasts; everything else, and everything after the window, goes into the thread;
 * - a /read interaction (`i:<interaction>:<channel>`, in DMs and inside threads), answered by editing
 *   the deferred response while the token lasts and by ordinary channel messages after it.
 */

export interface OutboundState {
  api: DiscordApi;
  interactions: InteractionRegistry;
  /** Thread id → where to post, while the thread is being created (or when creating it failed). */
  threadTargets: Map<string, Promise<ChannelTarget>>;
  logger: Logger;
}

const REACTIONS = { received: '👀', done: '✅', failed: '⚠️' } as const;

export function createOutbound(
  state: OutboundState,
): Required<Pick<ChatAdapter, 'post' | 'update' | 'react' | 'uploadPreview' | 'notifyPrivately'>> {
  const { api, interactions, logger } = state;
  /** The ids of the continuation messages of a reply split at Discord's limits, by first message id. */
  const extras = new Map<string, string[]>();
  /** Messages re-posted to the channel after an interaction token expired: old id → new id. */
  const aliases = new Map<string, string>();
  const channelPosted = new Set<string>();

  const surfaces = { api, interactions, logger };
  const channelSurface = (target: ChannelTarget) => channelSurfaceOf(api, target);
  const interactionSurface = (context: InteractionContext) => interactionSurfaceOf(api, context);
  const threadSurface = (thread: ThreadRef, target: ChannelTarget, live?: InteractionContext) =>
    threadSurfaceOf(surfaces, thread, target, live);

  async function surfaceFor(
    thread: ThreadRef,
  ): Promise<{ surface: Surface; interaction: boolean; channelId: string; known: boolean }> {
    const fromInteraction = parseInteractionThreadId(thread.threadId);
    if (fromInteraction) {
      const context = await interactions.live(fromInteraction.interactionId);
      if (context)
        return {
          surface: interactionSurface(context),
          interaction: true,
          channelId: context.channelId,
          known: true,
        };
      return {
        surface: channelSurface({ channelId: fromInteraction.channelId }),
        interaction: false,
        channelId: fromInteraction.channelId,
        known: true,
      };
    }
    if (thread.threadId === thread.channelId) {
      return {
        surface: channelSurface({ channelId: thread.channelId }),
        interaction: false,
        channelId: thread.channelId,
        known: true,
      };
    }
    const pending = state.threadTargets.get(thread.threadId);
    const target = (await pending) ?? { channelId: thread.threadId };
    const context = await interactions.liveForThread(thread.threadId);
    return {
      surface: threadSurface(thread, target, context),
      interaction: context !== undefined,
      channelId: target.channelId,
      known: pending !== undefined,
    };
  }

  /** Discord's "Unknown Channel": a thread that was never created (or was deleted). */
  function unknownChannel(error: unknown): boolean {
    return error instanceof AppError && error.details.discordCode === 10003;
  }

  /**
   * After a restart the gate of a thread that could not be started is gone and its id names no
   * channel: that conversation's messages go to the parent channel from now on.
   */
  async function toParent(thread: ThreadRef, parts: DiscordBody[]): Promise<string> {
    logger.warn('discord thread unknown; posting to the parent channel');
    state.threadTargets.set(thread.threadId, Promise.resolve({ channelId: thread.channelId }));
    return (await sendAll(channelSurface({ channelId: thread.channelId }), parts)).id;
  }

  async function sendAll(surface: Surface, parts: DiscordBody[]): Promise<APIMessage> {
    const first = await surface.first(parts[0]!);
    const more: string[] = [];
    for (const part of parts.slice(1)) more.push((await surface.create(part)).id);
    if (more.length > 0) extras.set(first.id, more);
    return first;
  }

  async function editAll(surface: Surface, messageId: string, parts: DiscordBody[]): Promise<void> {
    await surface.edit(messageId, parts[0]!);
    const previous = extras.get(messageId) ?? [];
    const next: string[] = [];
    for (const [i, part] of parts.slice(1).entries()) {
      const existing = previous[i];
      next.push(existing ? (await surface.edit(existing, part)).id : (await surface.create(part)).id);
    }
    for (const surplus of previous.slice(parts.length - 1))
      await surface.remove(surplus).catch(() => undefined);
    if (next.length > 0) extras.set(messageId, next);
    else extras.delete(messageId);
  }

  async function postParts(
    thread: ThreadRef,
    message: OutboundMessage,
    parts: DiscordBody[],
  ): Promise<PostedRef> {
    const { surface, interaction, channelId, known } = await surfaceFor(thread);
    try {
      const first = await sendAll(surface, parts);
      if (!interaction && parseInteractionThreadId(thread.threadId)) channelPosted.add(first.id);
      return { thread, messageId: first.id };
    } catch (error) {
      if (!known && unknownChannel(error)) return { thread, messageId: await toParent(thread, parts) };
      if (!interaction) throw error;
      // The token stopped working early (revoked, expired): answer in the channel instead.
      logger.warn({ kind: message.kind }, 'discord interaction reply failed; posting to the channel');
      const first = await sendAll(channelSurface({ channelId }), parts);
      channelPosted.add(first.id);
      return { thread, messageId: first.id };
    }
  }

  async function updateParts(ref: PostedRef, message: OutboundMessage, parts: DiscordBody[]): Promise<void> {
    const messageId = aliases.get(ref.messageId) ?? ref.messageId;
    const { surface, interaction, channelId, known } = await surfaceFor(ref.thread);
    if (!parseInteractionThreadId(ref.thread.threadId)) {
      try {
        await editAll(surface, messageId, parts);
        return;
      } catch (error) {
        // Only a /read thread's head (the command's response, whose id is the thread's) is
        // re-posted when it cannot be edited; any other failure is the caller's to retry.
        if (messageId !== ref.thread.threadId || ref.thread.threadId === ref.thread.channelId) throw error;
        logger.warn({ kind: message.kind }, 'discord response not editable; posting in the thread');
      }
      try {
        aliases.set(ref.messageId, (await sendAll(channelSurface({ channelId }), parts)).id);
      } catch (error) {
        if (known || !unknownChannel(error)) throw error;
        aliases.set(ref.messageId, await toParent(ref.thread, parts));
      }
      return;
    }
    if (channelPosted.has(messageId)) {
      await editAll(channelSurface({ channelId }), messageId, parts);
      return;
    }
    if (interaction) {
      try {
        await editAll(surface, messageId, parts);
        return;
      } catch {
        logger.warn({ kind: message.kind }, 'discord interaction edit failed; posting to the channel');
      }
    }
    // The deferred response can no longer be edited (token window over): post the update anew.
    const first = await sendAll(channelSurface({ channelId }), parts);
    channelPosted.add(first.id);
    aliases.set(ref.messageId, first.id);
  }

  return {
    post: (thread: ThreadRef, message: OutboundMessage): Promise<PostedRef> =>
      sendWithReadFallback(message, (parts) => postParts(thread, message, parts), logger),

    update: (ref: PostedRef, message: OutboundMessage): Promise<void> =>
      sendWithReadFallback(message, (parts) => updateParts(ref, message, parts), logger),

    async react(thread, messageId, reaction): Promise<void> {
      // A slash command has no message to react to (a /read thread's jobs carry `i:<interaction>`).
      if (parseInteractionThreadId(thread.threadId) || messageId.startsWith('i:')) return;
      // The message a thread was started from lives in the parent channel; later ones in the thread.
      const channelId =
        messageId === thread.threadId || thread.threadId === thread.channelId
          ? thread.channelId
          : thread.threadId;
      try {
        await api.addReaction(channelId, messageId, REACTIONS[reaction]);
        if (reaction !== 'received') await api.removeReaction(channelId, messageId, REACTIONS.received);
      } catch (error) {
        logger.warn({ err: error, reaction }, 'discord reaction failed');
      }
    },

    async uploadPreview(thread, png, caption): Promise<void> {
      const { surface } = await surfaceFor(thread);
      const file: RawFile = { name: PREVIEW_NAME, data: png, contentType: 'image/png' };
      await surface.create(previewBody(caption), [file]);
    },

    async notifyPrivately(thread, userId, message): Promise<void> {
      const parts = renderOutbound(message);
      const fromInteraction = parseInteractionThreadId(thread.threadId);
      const context = fromInteraction
        ? await interactions.live(fromInteraction.interactionId)
        : await interactions.liveForThread(thread.threadId);
      if (context) {
        for (const part of parts) {
          await api.followup(context.applicationId, context.token, {
            ...forCreate(part),
            flags: MessageFlags.Ephemeral,
          });
        }
        return;
      }
      const dm = await api.openDm(userId);
      for (const part of parts) await api.createMessage(dm.id, forCreate(part));
    },
  };
}
