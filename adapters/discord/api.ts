import {
  type APIChannel,
  type APIMessage,
  DiscordAPIError,
  type InteractionResponseType,
  type RawFile,
  type REST,
  Routes,
} from 'discord.js';
import { AppError } from '../../src/errors.ts';
import { slashCommands } from './commands.ts';
import type { DiscordBody } from './render.ts';

/**
 * The Discord REST calls the adapter makes, through discord.js's REST client (which queues per route
 * and honours 429 `retry_after` and the global limit, "Topics → Rate Limits"). Interaction callbacks
 * and interaction webhooks authenticate by their token in the path, so they are sent with
 * `auth: false` like discord.js does; errors name the route template only, never a token.
 */

export type MessageBody = DiscordBody & {
  message_reference?: { message_id: string; fail_if_not_exists: boolean };
  attachments?: { id: number; filename: string; description?: string }[];
};

export interface DiscordApi {
  createMessage(channelId: string, body: MessageBody, files?: RawFile[]): Promise<APIMessage>;
  editMessage(channelId: string, messageId: string, body: MessageBody): Promise<APIMessage>;
  deleteMessage(channelId: string, messageId: string): Promise<void>;
  addReaction(channelId: string, messageId: string, emoji: string): Promise<void>;
  removeReaction(channelId: string, messageId: string, emoji: string): Promise<void>;
  startThread(channelId: string, messageId: string, name: string): Promise<APIChannel>;
  getChannel(channelId: string): Promise<APIChannel>;
  openDm(userId: string): Promise<APIChannel>;
  interactionCallback(
    interactionId: string,
    token: string,
    type: InteractionResponseType,
    data?: MessageBody,
  ): Promise<void>;
  /** "Get Original Interaction Response" (or a follow-up): GET /webhooks/{app}/{token}/messages/{id}. */
  getInteractionMessage(applicationId: string, token: string, messageId: string): Promise<APIMessage>;
  editInteractionMessage(
    applicationId: string,
    token: string,
    messageId: string,
    body: MessageBody,
  ): Promise<APIMessage>;
  followup(applicationId: string, token: string, body: MessageBody, files?: RawFile[]): Promise<APIMessage>;
  registerCommands(applicationId: string): Promise<void>;
}

function wrap(route: string, error: unknown): AppError {
  const status = error instanceof DiscordAPIError ? error.status : undefined;
  const code = error instanceof DiscordAPIError ? error.code : undefined;
  // Not `cause: error`: a DiscordAPIError carries the request URL, which holds interaction tokens.
  return new AppError(
    'CHAT_API_FAILED',
    `discord ${route} failed${status ? ` (HTTP ${status}, code ${code})` : ''}`,
    {
      retryable: status === undefined || status >= 500,
      details: { route, status, discordCode: code },
    },
  );
}

async function call<T>(route: string, run: () => Promise<unknown>): Promise<T> {
  try {
    return (await run()) as T;
  } catch (error) {
    throw wrap(route, error);
  }
}

export function createDiscordApi(rest: REST): DiscordApi {
  return {
    createMessage: (channelId, body, files) =>
      call('POST /channels/{id}/messages', () =>
        rest.post(Routes.channelMessages(channelId), files?.length ? { body, files } : { body }),
      ),
    editMessage: (channelId, messageId, body) =>
      call('PATCH /channels/{id}/messages/{id}', () =>
        rest.patch(Routes.channelMessage(channelId, messageId), { body }),
      ),
    deleteMessage: (channelId, messageId) =>
      call('DELETE /channels/{id}/messages/{id}', () =>
        rest.delete(Routes.channelMessage(channelId, messageId)),
      ),
    addReaction: (channelId, messageId, emoji) =>
      call('PUT reaction', () =>
        rest.put(Routes.channelMessageOwnReaction(channelId, messageId, encodeURIComponent(emoji))),
      ),
    removeReaction: (channelId, messageId, emoji) =>
      call('DELETE reaction', () =>
        rest.delete(Routes.channelMessageOwnReaction(channelId, messageId, encodeURIComponent(emoji))),
      ),
    startThread: (channelId, messageId, name) =>
      call('POST /channels/{id}/messages/{id}/threads', () =>
        // 1440 min = archive after a day without activity ("Start Thread from Message").
        rest.post(Routes.threads(channelId, messageId), { body: { name, auto_archive_duration: 1440 } }),
      ),
    getChannel: (channelId) => call('GET /channels/{id}', () => rest.get(Routes.channel(channelId))),
    openDm: (userId) =>
      call('POST /users/@me/channels', () =>
        rest.post(Routes.userChannels(), { body: { recipient_id: userId } }),
      ),
    interactionCallback: (interactionId, token, type, data) =>
      call('POST /interactions/{id}/{token}/callback', () =>
        rest.post(Routes.interactionCallback(interactionId, token), {
          body: data ? { type, data } : { type },
          auth: false,
        }),
      ),
    getInteractionMessage: (applicationId, token, messageId) =>
      call('GET /webhooks/{app}/{token}/messages/{id}', () =>
        rest.get(Routes.webhookMessage(applicationId, token, messageId), { auth: false }),
      ),
    editInteractionMessage: (applicationId, token, messageId, body) =>
      call('PATCH /webhooks/{app}/{token}/messages/{id}', () =>
        rest.patch(Routes.webhookMessage(applicationId, token, messageId), { body, auth: false }),
      ),
    followup: (applicationId, token, body, files) =>
      call('POST /webhooks/{app}/{token}', () =>
        rest.post(Routes.webhook(applicationId, token), {
          body,
          auth: false,
          ...(files?.length ? { files } : {}),
        }),
      ),
    registerCommands: (applicationId) =>
      call('PUT /applications/{id}/commands', () =>
        rest.put(Routes.applicationCommands(applicationId), { body: slashCommands }),
      ),
  };
}
