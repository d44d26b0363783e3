import {
  type APIInteraction,
  type APIMessageComponentInteraction,
  ComponentType,
  type GatewayMessageCreateDispatchData,
  InteractionResponseType,
  InteractionType,
  MessageFlags,
  MessageType,
} from 'discord.js';
import type { BotCore, HandleOutcome } from '../../src/core/adapter.ts';
import { type OutboundMessage, plainText } from '../../src/core/reply.ts';
import type { AttachmentRef, ThreadRef } from '../../src/core/types.ts';
import type { Logger } from '../../src/log.ts';
import type { DiscordApi } from './api.ts';
import type { InteractionRegistry } from './interactions.ts';
import { mayThread, startReadThread, threadOnResponse } from './read-thread.ts';
import { forCreate, NO_MENTIONS, renderOutbound } from './render.ts';
import type { ChannelTarget } from './surfaces.ts';
import {
  interactionToRequest,
  interactionUserId,
  isHelpCommand,
  isLikelyImage,
  isReadCommand,
  isThreadType,
  mentionsUser,
  messageToRequest,
  parseCustomId,
} from './to-request.ts';

/** Gateway events in, BotCore calls out. Every handler returns quickly: the core persists and queues. */
export interface InboundDeps {
  core: BotCore;
  api: DiscordApi;
  interactions: InteractionRegistry;
  threadTargets: Map<string, Promise<ChannelTarget>>;
  botUserId(): string;
  /** Parent channel of a thread channel, from the gateway cache or the threads this bot started. */
  cachedThreadParent(channelId: string): string | undefined;
  rememberThread(threadId: string, parentId: string): void;
  prefetch(attachments: AttachmentRef[]): void;
  post(thread: ThreadRef, message: OutboundMessage): Promise<unknown>;
  clock(): number;
  logger: Logger;
}

function settle(outcome: HandleOutcome): string {
  return outcome.kind === 'ignored' ? `ignored:${outcome.reason}` : outcome.kind;
}

/** Which conversation a message belongs to, and whether answering it starts a new thread. */
async function threadOf(
  message: GatewayMessageCreateDispatchData,
  deps: InboundDeps,
): Promise<{ thread: ThreadRef; kind: 'thread' | 'dm' | 'channel' }> {
  if (!message.guild_id)
    return { thread: { channelId: message.channel_id, threadId: message.channel_id }, kind: 'dm' };
  const cached = deps.cachedThreadParent(message.channel_id);
  if (cached || isThreadType(message.channel_type)) {
    let parent = cached;
    if (!parent) {
      const channel = await deps.api.getChannel(message.channel_id).catch(() => undefined);
      parent = channel && 'parent_id' in channel && channel.parent_id ? channel.parent_id : undefined;
      if (parent) deps.rememberThread(message.channel_id, parent);
    }
    return {
      thread: { channelId: parent ?? message.channel_id, threadId: message.channel_id },
      kind: 'thread',
    };
  }
  return { thread: { channelId: message.channel_id, threadId: message.id }, kind: 'channel' };
}

export async function onMessageCreate(
  message: GatewayMessageCreateDispatchData,
  deps: InboundDeps,
): Promise<void> {
  if (message.author.bot || message.webhook_id) return;
  if (message.type !== MessageType.Default && message.type !== MessageType.Reply) return;
  const botId = deps.botUserId();
  const { thread, kind } = await threadOf(message, deps);
  const mentioned = mentionsUser(message, botId);
  const addressed = mentioned || (kind === 'dm' && message.attachments.some(isLikelyImage));
  // Anything else counts only as a follow-up in a thread or DM the core is reading (it checks).
  if (!addressed && kind === 'channel') return;

  const request = {
    ...messageToRequest(message, thread, botId, new Date(deps.clock()).toISOString()),
    trigger: addressed ? ('mention' as const) : ('reply' as const),
  };
  const replyTarget: ChannelTarget = { channelId: message.channel_id, replyTo: message.id };
  // Posts for a new read wait until its thread exists; the gate is set before the core sees the job.
  let resolveGate: ((target: ChannelTarget) => void) | undefined;
  if (kind === 'channel' && !deps.threadTargets.has(message.id)) {
    deps.threadTargets.set(message.id, new Promise((resolve) => (resolveGate = resolve)));
  }
  let outcome: HandleOutcome;
  try {
    outcome = await deps.core.handle(request);
  } catch (error) {
    resolveGate?.(replyTarget);
    throw error;
  }
  deps.logger.info({ eventId: message.id, outcome: settle(outcome) }, 'discord message handled');

  if (outcome.kind === 'accepted' || outcome.kind === 'followup') {
    deps.prefetch(request.attachments);
    if (resolveGate) resolveGate(await startThread(message, deps));
    return;
  }
  if (outcome.kind === 'duplicate') {
    resolveGate?.({ channelId: message.id });
    return;
  }
  resolveGate?.(replyTarget);
  if (outcome.reply) await replyIn(thread, kind, replyTarget, outcome.reply, deps);
}

async function startThread(
  message: GatewayMessageCreateDispatchData,
  deps: InboundDeps,
): Promise<ChannelTarget> {
  try {
    // The name is ours, never the file name or the question (they may hold PHI).
    const channel = await deps.api.startThread(message.channel_id, message.id, 'quickread read');
    deps.rememberThread(channel.id, message.channel_id);
    // Posts that come later resolve the thread id to the same channel without this entry.
    if (channel.id === message.id) deps.threadTargets.delete(message.id);
    return { channelId: channel.id };
  } catch (error) {
    // No permission to create threads (or a channel type without them): answer as a reply instead.
    deps.logger.warn(
      { err: error, eventId: message.id },
      'discord thread creation failed; replying in the channel',
    );
    return { channelId: message.channel_id, replyTo: message.id };
  }
}

async function replyIn(
  thread: ThreadRef,
  kind: 'thread' | 'dm' | 'channel',
  target: ChannelTarget,
  message: OutboundMessage,
  deps: InboundDeps,
): Promise<void> {
  if (kind !== 'channel') {
    await deps.post(thread, message);
    return;
  }
  for (const [i, part] of renderOutbound(message).entries()) {
    const body = forCreate(part);
    await deps.api.createMessage(
      target.channelId,
      i === 0 && target.replyTo
        ? { ...body, message_reference: { message_id: target.replyTo, fail_if_not_exists: false } }
        : body,
    );
  }
}

export async function onInteractionCreate(interaction: APIInteraction, deps: InboundDeps): Promise<void> {
  if (interaction.type === InteractionType.ApplicationCommand) {
    if (isReadCommand(interaction)) return onRead(interaction, deps);
    if (isHelpCommand(interaction)) {
      const [first] = renderOutbound(
        deps.core.command({
          kind: 'help',
          platform: 'discord',
          channelId: interaction.channel?.id ?? interaction.channel_id ?? '',
          userId: interaction.member?.user.id ?? interaction.user?.id ?? '',
        }),
      );
      await deps.api.interactionCallback(
        interaction.id,
        interaction.token,
        InteractionResponseType.ChannelMessageWithSource,
        { ...forCreate(first!), flags: MessageFlags.Ephemeral },
      );
    }
    return;
  }
  if (interaction.type === InteractionType.MessageComponent) return onButton(interaction, deps);
}

async function onRead(
  interaction: Parameters<typeof interactionToRequest>[0],
  deps: InboundDeps,
): Promise<void> {
  // Replayed after a gateway RESUME: already deferred and being answered; a second defer would fail
  // (40060) and replacing the context would cut the job off from its token.
  if (deps.interactions.get(interaction.id)) return;
  const request = interactionToRequest(interaction, new Date(deps.clock()).toISOString());
  if (!request) return;
  const channelId = request.platformData?.channelId as string;
  const context = deps.interactions.add({
    id: interaction.id,
    token: interaction.token,
    applicationId: interaction.application_id,
    channelId,
    createdAt: deps.clock(),
  });
  // Acknowledge first: Discord drops the interaction unless it is answered within 3 seconds.
  context.deferred = deps.api
    .interactionCallback(
      interaction.id,
      interaction.token,
      InteractionResponseType.DeferredChannelMessageWithSource,
    )
    .then(
      () => true,
      (error: unknown) => {
        deps.logger.warn({ err: error, eventId: interaction.id }, 'discord defer failed');
        return false;
      },
    );
  const gate = await threadOnResponse(interaction, request, context, deps);
  let outcome: HandleOutcome;
  try {
    outcome = await deps.core.handle(request);
  } catch (error) {
    gate?.open({ channelId });
    throw error;
  }
  deps.logger.info({ eventId: interaction.id, outcome: settle(outcome) }, 'discord /read handled');
  if (outcome.kind === 'accepted' || outcome.kind === 'followup') {
    deps.prefetch(request.attachments);
    if (gate)
      gate.open(
        await startReadThread(
          gate.threadId,
          channelId,
          context,
          deps,
          mayThread(interaction.app_permissions),
        ),
      );
    return;
  }
  if (outcome.kind === 'duplicate') {
    gate?.open({ channelId: gate.threadId });
    return;
  }
  // Refused or nothing to read: the answer replaces "thinking…" and no thread is started for it.
  gate?.open({ channelId });
  if (outcome.reply && (await context.deferred)) await deps.post(request.thread, outcome.reply);
}

async function onButton(interaction: APIMessageComponentInteraction, deps: InboundDeps): Promise<void> {
  if (interaction.data.component_type !== ComponentType.Button) return;
  const parsed = parseCustomId(interaction.data.custom_id);
  const userId = interactionUserId(interaction);
  if (!parsed || !userId) return;
  const { id, token, application_id: applicationId } = interaction;
  const privately = (text: string) => ({
    content: text,
    allowed_mentions: { ...NO_MENTIONS },
    flags: MessageFlags.Ephemeral,
  });
  const kind =
    parsed.action === 'ack' ? 'acknowledge' : parsed.action === 'nc' ? 'not-critical' : parsed.action;
  const acknowledges = kind === 'acknowledge' || kind === 'not-critical';
  if (acknowledges) {
    // Ack within 3 s (type 6 DEFERRED_UPDATE_MESSAGE); the core then re-renders the card through
    // update() with who acknowledged and when, and the button disabled.
    await deps.api.interactionCallback(id, token, InteractionResponseType.DeferredMessageUpdate);
  }
  const outcome = await deps.core.act({ kind, platform: 'discord', jobId: parsed.jobId, userId });
  if (!outcome.reply) return;
  if (acknowledges) {
    await deps.api.followup(applicationId, token, privately(plainText(outcome.reply)));
    return;
  }
  await deps.api.interactionCallback(
    id,
    token,
    InteractionResponseType.ChannelMessageWithSource,
    privately(plainText(outcome.reply)),
  );
}
