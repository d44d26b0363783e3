import { AppError } from '../../src/errors.ts';
import { exactOrigins, fetchFile } from '../../src/net/fetch-file.ts';

/**
 * Attachment downloads. Discord attachment URLs are signed CDN links (`ex`/`is`/`hm` query) that need
 * no credentials and expire, so: plain fetch with NO Authorization header (the bot token never leaves
 * for a download — discord.js REST is not used here), only from the exact origins configured in
 * DISCORD_CDN_HOSTS, redirects re-checked at each hop, the size capped while streaming
 * (src/net/fetch-file.ts).
 */

export { isAllowedUrl } from '../../src/net/fetch-file.ts';

export interface DownloadOptions {
  /** Exact origins, e.g. https://cdn.discordapp.com. */
  allowedOrigins: readonly string[];
  maxBytes: number;
  fetch: typeof fetch;
  timeoutMs?: number;
}

export const normaliseOrigins = exactOrigins;

export function downloadAttachment(
  url: string,
  options: DownloadOptions,
  signal?: AbortSignal,
): Promise<Buffer> {
  const mb = Math.round(options.maxBytes / (1024 * 1024));
  return fetchFile(
    url,
    {
      allowed: exactOrigins(options.allowedOrigins),
      maxBytes: options.maxBytes,
      fetch: options.fetch,
      maxRedirects: 3,
      timeoutMs: options.timeoutMs ?? 60_000,
      what: 'discord attachment',
      refusals: {
        forbidden: () =>
          new AppError('DOWNLOAD_FORBIDDEN_HOST', 'discord attachment host is not in DISCORD_CDN_HOSTS', {
            userMessage:
              'That file is not hosted on Discord’s attachment servers, so quickread did not fetch it. Attach the image to your message instead.',
          }),
        tooLarge: () =>
          new AppError('INPUT_TOO_LARGE', `discord attachment exceeds ${options.maxBytes} bytes`, {
            userMessage: `The file is larger than the ${mb} MB quickread accepts.`,
            details: { maxBytes: options.maxBytes },
          }),
        html: () =>
          new AppError('INPUT_HTML', 'discord attachment URL returned HTML', {
            userMessage: 'Discord returned a web page instead of the file; post the image again.',
          }),
        status: (status) =>
          status === 403 || status === 404 || status === 410
            ? 'The attachment link expired or the file was deleted; post the image again.'
            : undefined,
      },
    },
    signal,
  );
}
