import type { APIActionRowComponent, APIButtonComponent, APIEmbed } from 'discord.js';
import { clipText, splitText } from '../../src/net/text-clip.ts';

/**
 * Discord's text limits and the neutralising of untrusted (model) text.
 *
 * Limits from Discord's "Message Resource → Embed Limits": title 256, description 4096, 25 fields,
 * field name 256, field value 1024, footer 2048, and 6000 characters over all embeds of one message;
 * message content 2000. Every body carries `allowed_mentions: { parse: [] }` ("Allowed Mentions
 * Object"): whatever the model writes, Discord will not ping anyone. Model text is also neutralised
 * (second line of defence).
 */

export const LIMITS = {
  content: 2000,
  title: 256,
  description: 4096,
  fields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footer: 2048,
  embedTotal: 6000,
  embeds: 10,
} as const;

export const NO_MENTIONS = Object.freeze({ parse: [] as never[], replied_user: false });

export interface DiscordBody {
  content?: string;
  embeds?: APIEmbed[];
  components?: APIActionRowComponent<APIButtonComponent>[];
  /** Always `parse: []`; a critical-result page adds exactly the configured users/roles (issue 19). */
  allowed_mentions: { parse: never[]; replied_user: boolean; users?: string[]; roles?: string[] };
  /** Deduplicates a resent direct page (with enforce_nonce, Discord "Create Message"). */
  nonce?: string;
  enforce_nonce?: boolean;
  flags?: number;
}

const ZWSP = '\u200b';

/**
 * Make untrusted text inert: markdown escaped (incl. masked links, headings, lists), @everyone/@here
 * and <@id>/<@&id>/<#id> broken with a zero-width space, and URL schemes broken so nothing auto-links.
 */
export function neutralise(text: string): string {
  // Linear escaping (discord.js's escapeMarkdown is super-linear on long text): a backslash before every
  // markdown character, and before heading, list and quote markers at the start of a line.
  return text
    .replace(/[\\*_~`|>[\]]/g, '\\$&')
    .replace(/^([ \t]*)([#-])/gm, '$1\\$2')
    .replace(/^([ \t]*)(\d+)\.(?=\s)/gm, '$1$2\\.')
    .replace(/@(everyone|here)/gi, `@${ZWSP}$1`)
    .replace(/<(@[!&]?|#|\/)/g, `<${ZWSP}$1`)
    .replace(/\b([a-z][a-z0-9+.-]*):\/\//gi, `$1:${ZWSP}//`);
}

/** Cut to `max` characters, ending with an ellipsis when something was dropped (never inside a surrogate pair). */
export const clip = clipText;

/** Split text into chunks of at most `max` characters, preferring line then word boundaries; nothing dropped. */
export const chunkText = splitText;

/**
 * Split neutralised text (chunkText) without leaving an escaping backslash at the end of a chunk, where
 * it would escape nothing and its character would start markdown at the head of the next chunk.
 */
export function splitNeutralised(text: string, max: number): string[] {
  const chunks = splitText(text, max - 1);
  for (let i = 0; i < chunks.length - 1; i++) {
    const trailing = /\\+$/.exec(chunks[i]!)?.[0].length ?? 0;
    if (trailing % 2 === 1) {
      chunks[i] = chunks[i]!.slice(0, -1);
      chunks[i + 1] = `\\${chunks[i + 1]}`;
    }
  }
  return chunks.filter((chunk) => chunk.length > 0);
}
