import type { AttachmentRef } from '../../src/core/types.ts';
import { AppError } from '../../src/errors.ts';
import { exactOrigins, fetchFile } from '../../src/net/fetch-file.ts';

/**
 * Fetch a Slack file with the bot token (https://docs.slack.dev/messaging/working-with-files#authentication):
 * the token goes only to the exact origins in SLACK_FILE_HOSTS and redirects are re-checked at each hop
 * (src/net/fetch-file.ts); a web page where bytes were expected (Slack's sign-in page when the token
 * lacks files:read) becomes INPUT_HTML.
 */

export interface DownloaderOptions {
  token: string;
  /** Exact origins, e.g. https://files.slack.com (config SLACK_FILE_HOSTS). */
  allowedOrigins: readonly string[];
  maxBytes: number;
  fetch?: typeof fetch;
  /** Resolves a file whose event carried no URL (Slack Connect `file_access: check_file_info`). */
  resolveUrl?: (fileId: string, signal: AbortSignal) => Promise<string | undefined>;
  maxRedirects?: number;
}

export function createSlackDownloader(options: DownloaderOptions) {
  const maxMb = Math.round(options.maxBytes / (1024 * 1024));
  const tooLarge = (bytes?: number) =>
    new AppError('INPUT_TOO_LARGE', 'slack file over MAX_UPLOAD_MB', {
      details: { limitBytes: options.maxBytes, ...(bytes ? { bytes } : {}) },
      userMessage: `The file is larger than quickread accepts (${maxMb} MB).`,
    });
  const fetchOptions = {
    allowed: exactOrigins(options.allowedOrigins),
    maxBytes: options.maxBytes,
    fetch: options.fetch ?? globalThis.fetch,
    headers: { Authorization: `Bearer ${options.token}` },
    maxRedirects: options.maxRedirects ?? 5,
    what: 'slack file',
    sniffHtml: true,
    refusals: {
      forbidden: (hop: number) =>
        new AppError('DOWNLOAD_FORBIDDEN_HOST', `file host not in SLACK_FILE_HOSTS (hop ${hop})`, {
          details: { hop },
          userMessage:
            hop === 0
              ? 'That file is hosted outside the Slack file servers quickread may fetch from, so it was not downloaded. Upload the image to Slack directly.'
              : 'Slack redirected the download to a host quickread may not send credentials to, so it was stopped.',
        }),
      tooLarge,
      html: () =>
        new AppError('INPUT_HTML', 'slack answered a web page instead of the file', {
          userMessage:
            'Slack returned a sign-in page instead of the file — the app probably lacks the files:read scope. Ask an admin to add files:read and reinstall the app.',
        }),
    },
  };

  return async function download(attachment: AttachmentRef, signal: AbortSignal): Promise<Buffer> {
    if (attachment.external) {
      throw new AppError('INPUT_UNSUPPORTED', 'remote (external) slack file refused', {
        userMessage:
          'That file lives outside Slack (a linked Drive/Box/Dropbox file), so quickread cannot fetch it. Upload the image itself to Slack.',
      });
    }
    if (attachment.sizeBytes !== undefined && attachment.sizeBytes > options.maxBytes)
      throw tooLarge(attachment.sizeBytes);
    const url = attachment.url || (await options.resolveUrl?.(attachment.fileId, signal)) || '';
    if (!url) throw new AppError('DOWNLOAD_FAILED', 'slack file has no download URL', { retryable: false });
    return fetchFile(url, fetchOptions, signal);
  };
}
