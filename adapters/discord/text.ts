import type { APIActionRowComponent, APIButtonComponent, APIEmbed } from 'discord.js';

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

/** Cut to `max` characters, ending with an ellipsis when something was dropped. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Split text into chunks of at most `max` characters, preferring line then word boundaries. */
export function chunkText(text: string, max: number): string[] {
  const chunks: string[] = [];
  let rest = text;
  while (rest.length > max) {
    let cut = rest.lastIndexOf('\n', max);
    if (cut < max / 2) cut = rest.lastIndexOf(' ', max);
    if (cut < max / 2) cut = max;
    chunks.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).trimStart();
  }
  if (rest.length > 0 || chunks.length === 0) chunks.push(rest);
  return chunks;
}
