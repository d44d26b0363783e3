import { type APIMessage, MessageFlags, type RawFile } from 'discord.js';
import type { ThreadRef } from '../../src/core/types.ts';
import type { Logger } from '../../src/log.ts';
import type { DiscordApi, MessageBody } from './api.ts';
import type { InteractionContext, InteractionRegistry } from './interactions.ts';
import { type DiscordBody, forCreate, forEdit, NO_MENTIONS } from './render.ts';

/** Where messages of a thread go when it is a channel: the thread channel, or a reply in the parent. */
export interface ChannelTarget {
  channelId: string;
  replyTo?: string;
}

/** One place messages can be created and edited: a channel, an interaction's webhook, a /read thread. */
export interface Surface {
  first(body: DiscordBody, files?: RawFile[]): Promise<APIMessage>;
  create(body: DiscordBody, files?: RawFile[]): Promise<APIMessage>;
  edit(messageId: string, body: DiscordBody): Promise<APIMessage>;
  remove(messageId: string): Promise<void>;
}

export interface SurfaceDeps {
  api: DiscordApi;
  interactions: InteractionRegistry;
  logger: Logger;
}

export function channelSurfaceOf(api: DiscordApi, target: ChannelTarget): Surface {
  const create = (body: DiscordBody, files?: RawFile[]) =>
    api.createMessage(target.channelId, forCreate(body), files);
  return {
    first: (body, files) => {
      const message: MessageBody = forCreate(body);
      if (target.replyTo)
        message.message_reference = { message_id: target.replyTo, fail_if_not_exists: false };
      return api.createMessage(target.channelId, message, files);
    },
    create,
    edit: (id, body) => api.editMessage(target.channelId, id, forEdit(body)),
    remove: (id) => api.deleteMessage(target.channelId, id),
  };
}

export function interactionSurfaceOf(api: DiscordApi, context: InteractionContext): Surface {
  const followup = (body: DiscordBody, files?: RawFile[]) =>
    api.followup(context.applicationId, context.token, forCreate(body), files);
  return {
    async first(body, files) {
      if (context.originalUsed || files?.length) return followup(body, files);
      context.originalUsed = true;
      const message = await api.editInteractionMessage(
        context.applicationId,
        context.token,
        '@original',
        forEdit(body),
      );
      context.originalId = message.id;
      return message;
    },
    create: followup,
    edit: (id, body) => api.editInteractionMessage(context.applicationId, context.token, id, forEdit(body)),
    remove: async () => {
      // Surplus continuation messages of an interaction are left in place (rare; editing is enough).
    },
  };
}

/**
 * A guild thread. For a /read thread its head is the command's response, in the parent channel: the
 * first post replaces it, by the interaction token while it lasts and afterwards with the bot token
 * (a non-ephemeral response is an ordinary message of the bot's: "Edit Message" works on it).
 * Everything else is a message in the thread. For a mention's thread there is no head to take.
 */
export function threadSurfaceOf(
  deps: SurfaceDeps,
  thread: ThreadRef,
  target: ChannelTarget,
  live?: InteractionContext,
): Surface {
  const { api, interactions, logger } = deps;
  const inThread = channelSurfaceOf(api, target);
  const byBot = (body: DiscordBody) => api.editMessage(thread.channelId, thread.threadId, forEdit(body));
  // A token revoked early is no reason to leave "thinking…" at the head: the bot token edits it too.
  const editHead = (body: DiscordBody) =>
    live
      ? api
          .editInteractionMessage(live.applicationId, live.token, '@original', forEdit(body))
          .catch(() => byBot(body))
      : byBot(body);
  return {
    async first(body, files) {
      if (files?.length || !interactions.takeHead(thread.threadId)) return inThread.first(body, files);
      let message: APIMessage;
      try {
        message = await editHead(body);
      } catch (error) {
        logger.warn({ err: error }, 'discord response not editable; posting in the thread');
        return inThread.first(body);
      }
      if (live?.note) await sendNote(deps, live);
      return message;
    },
    create: inThread.create,
    edit: (id, body) => (id === thread.threadId ? editHead(body) : inThread.edit(id, body)),
    remove: inThread.remove,
  };
}

/**
 * Ephemeral, and only after the response was edited: a first follow-up to a deferred response
 * would replace it instead.
 */
async function sendNote({ api, logger }: SurfaceDeps, context: InteractionContext): Promise<void> {
  const content = context.note;
  context.note = undefined;
  if (!content) return;
  await api
    .followup(context.applicationId, context.token, {
      content,
      allowed_mentions: { ...NO_MENTIONS },
      flags: MessageFlags.Ephemeral,
    })
    .catch((error: unknown) => logger.warn({ err: error }, 'discord note not sent'));
}
