import { type APIChatInputApplicationCommandInteraction, ChannelType, PermissionFlagsBits } from 'discord.js';
import type { InboundRequest } from '../../src/core/types.ts';
import type { Logger } from '../../src/log.ts';
import type { DiscordApi } from './api.ts';
import type { InteractionContext, InteractionRegistry } from './interactions.ts';

/** What starting a /read thread needs from the inbound side (inbound.ts passes its own deps). */
export interface ReadThreadDeps {
  api: DiscordApi;
  interactions: InteractionRegistry;
  threadTargets: Map<string, Promise<ChannelTarget>>;
  rememberThread(threadId: string, parentId: string): void;
  logger: Logger;
}

import type { ChannelTarget } from './surfaces.ts';

/** Guild channels whose messages can start a public thread ("Start Thread from Message"). */
const THREADABLE: ReadonlySet<number> = new Set([ChannelType.GuildText, ChannelType.GuildAnnouncement]);

export const NO_THREAD_NOTE =
  'Follow-up questions need a thread: give quickread the Create Public Threads and Send Messages in Threads permissions in this channel, then use /read again.';

const THREAD_PERMISSIONS =
  PermissionFlagsBits.CreatePublicThreads | PermissionFlagsBits.SendMessagesInThreads;

/**
 * Whether the bot may start the thread and talk in it, from the interaction's `app_permissions` (the
 * bot's computed permissions in that channel, "Interaction Object"). Unknown or unreadable → try.
 */
export function mayThread(appPermissions: string | undefined): boolean {
  if (!appPermissions) return true;
  try {
    const bits = BigInt(appPermissions);
    if ((bits & PermissionFlagsBits.Administrator) !== 0n) return true;
    return (bits & THREAD_PERMISSIONS) === THREAD_PERMISSIONS;
  } catch {
    return true;
  }
}

/**
 * In a guild text channel the read lives in a thread started on the command's response message, so
 * plain messages there are follow-ups about the same image (like a mention's thread). The thread's
 * id is the response message's id ("the created thread and the message it was started from share
 * the same id"), known as soon as the deferred response exists ("Get Original Interaction
 * Response"), so the request is keyed to the thread before the core stores it; posts wait at the
 * gate until the thread exists. DMs and commands used inside a thread keep the interaction's own
 * conversation (`i:<interaction>:<channel>`) and are answered in place.
 */
export async function threadOnResponse(
  interaction: APIChatInputApplicationCommandInteraction,
  request: InboundRequest,
  context: InteractionContext,
  deps: ReadThreadDeps,
): Promise<{ threadId: string; open(target: ChannelTarget): void } | undefined> {
  const type = interaction.channel?.type;
  if (!interaction.guild_id || type === undefined || !THREADABLE.has(type)) return undefined;
  if (!(await context.deferred)) return undefined;
  const original = await deps.api
    .getInteractionMessage(interaction.application_id, interaction.token, '@original')
    .catch((error: unknown) => {
      deps.logger.warn({ err: error, eventId: interaction.id }, 'discord original response not found');
      return undefined;
    });
  if (!original) return undefined;
  const threadId = original.id;
  request.thread = { channelId: request.thread.channelId, threadId };
  // No user message to react to: the marker tells react() to skip (it survives a restart).
  request.platformData = { ...request.platformData, messageId: `i:${interaction.id}`, threadId };
  context.originalId = threadId;
  deps.interactions.bindThread(interaction.id, threadId);
  let open: (target: ChannelTarget) => void = () => undefined;
  if (!deps.threadTargets.has(threadId)) {
    deps.threadTargets.set(threadId, new Promise((resolve) => (open = resolve)));
  }
  return { threadId, open };
}

export async function startReadThread(
  threadId: string,
  channelId: string,
  context: InteractionContext,
  deps: ReadThreadDeps,
  permitted: boolean,
): Promise<ChannelTarget> {
  if (!permitted) {
    deps.logger.warn(
      { eventId: context.id },
      'discord /read without thread permissions; answering in the channel',
    );
    context.note = NO_THREAD_NOTE;
    return { channelId };
  }
  try {
    // The name is ours, never the file name or the question (they may hold PHI).
    const channel = await deps.api.startThread(channelId, threadId, 'quickread read');
    deps.rememberThread(channel.id, channelId);
    if (channel.id === threadId) deps.threadTargets.delete(threadId);
    return { channelId: channel.id };
  } catch (error) {
    // No Create Public Threads permission: answer in place as before, and say why follow-ups fail.
    deps.logger.warn(
      { err: error, eventId: context.id },
      'discord thread creation failed; answering in the channel',
    );
    context.note = NO_THREAD_NOTE;
    return { channelId };
  }
}
