import type { ChatAdapter } from '../../src/core/adapter.ts';
import type { DiscordApi } from './api.ts';
import { forCreate, renderOutbound } from './render.ts';
import { parseInteractionThreadId } from './to-request.ts';

/**
 * What a critical-result page needs from Discord (issue 19): a DM (POST /users/@me/channels, then a
 * message in it, "Create DM"), a message at the top of a channel, and a link to the read's thread
 * (https://discord.com/channels/{guild}/{channel}, a DM's guild being `@me`).
 */
export function createPageTransport(
  api: DiscordApi,
): Required<Pick<ChatAdapter, 'messageDirectly' | 'postInChannel' | 'linkTo'>> {
  return {
    async messageDirectly(userId, message, idempotencyKey) {
      const dm = await api.openDm(userId);
      const [first, ...rest] = renderOutbound(message);
      // A resend after a restart carries the same nonce: Discord returns the first message instead
      // of posting a second (enforce_nonce, "Create Message"). Nonces are at most 25 characters.
      const nonce = createNonce(idempotencyKey);
      await api.createMessage(dm.id, { ...forCreate(first!), nonce, enforce_nonce: true });
      for (const part of rest) await api.createMessage(dm.id, forCreate(part));
    },
    async postInChannel(channelId, message) {
      const [first, ...rest] = renderOutbound(message);
      const posted = await api.createMessage(channelId, forCreate(first!));
      for (const part of rest) await api.createMessage(channelId, forCreate(part));
      return { thread: { channelId, threadId: channelId }, messageId: posted.id };
    },
    async linkTo(ref) {
      const fromInteraction = parseInteractionThreadId(ref.thread.threadId);
      const channelId = fromInteraction ? fromInteraction.channelId : ref.thread.threadId;
      const channel = await api.getChannel(ref.thread.channelId);
      const guild = 'guild_id' in channel && channel.guild_id ? channel.guild_id : '@me';
      return `https://discord.com/channels/${guild}/${channelId}`;
    },
  };
}

/** A 25-character nonce from an idempotency key (same key, same nonce). */
function createNonce(key: string): string {
  let hash = 0n;
  for (const char of key) hash = (hash * 131n + BigInt(char.codePointAt(0)!)) % 10n ** 24n;
  return hash.toString().padStart(24, '0');
}
