import type { AttachmentRef } from '../../src/core/types.ts';
import { AppError } from '../../src/errors.ts';
import { readCapped } from '../../src/net/read-capped.ts';

/**
 * Fetch a Slack file with the bot token (https://docs.slack.dev/messaging/working-with-files#authentication):
 * the token goes only to the exact origins in SLACK_FILE_HOSTS, redirects are followed by hand and only
 * to those origins, the size is capped while streaming, and a web page where bytes were expected (Slack's
 * sign-in page when the token lacks files:read) becomes INPUT_HTML.
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

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function originOf(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.origin : undefined;
  } catch {
    return undefined;
  }
}

const forbidden = (origin: string | undefined, hop: number) =>
  new AppError('DOWNLOAD_FORBIDDEN_HOST', `file host not in SLACK_FILE_HOSTS (hop ${hop})`, {
    details: { origin: origin ?? 'invalid', hop },
    userMessage:
      hop === 0
        ? 'That file is hosted outside the Slack file servers quickread may fetch from, so it was not downloaded. Upload the image to Slack directly.'
        : 'Slack redirected the download to a host quickread may not send credentials to, so it was stopped.',
  });

const looksLikeHtml = (head: Buffer): boolean =>
  /^\s*<(!doctype\s+html|html[\s>])/i.test(head.subarray(0, 512).toString('latin1'));

export function createSlackDownloader(options: DownloaderOptions) {
  const allowed = new Set(options.allowedOrigins.map((o) => originOf(o)).filter((o): o is string => !!o));
  const doFetch = options.fetch ?? globalThis.fetch;
  const maxMb = Math.round(options.maxBytes / (1024 * 1024));
  const tooLarge = (bytes?: number) =>
    new AppError('INPUT_TOO_LARGE', 'slack file over MAX_UPLOAD_MB', {
      details: { limitBytes: options.maxBytes, ...(bytes ? { bytes } : {}) },
      userMessage: `The file is larger than quickread accepts (${maxMb} MB).`,
    });

  return async function download(attachment: AttachmentRef, signal: AbortSignal): Promise<Buffer> {
    if (attachment.external) {
      throw new AppError('INPUT_UNSUPPORTED', 'remote (external) slack file refused', {
        userMessage:
          'That file lives outside Slack (a linked Drive/Box/Dropbox file), so quickread cannot fetch it. Upload the image itself to Slack.',
      });
    }
    if (attachment.sizeBytes !== undefined && attachment.sizeBytes > options.maxBytes)
      throw tooLarge(attachment.sizeBytes);
    let url = attachment.url || (await options.resolveUrl?.(attachment.fileId, signal)) || '';
    if (!url) throw new AppError('DOWNLOAD_FAILED', 'slack file has no download URL', { retryable: false });

    for (let hop = 0; hop <= (options.maxRedirects ?? 5); hop += 1) {
      const origin = originOf(url);
      // Checked before every request, so the Authorization header can only ever reach an allowed origin.
      if (!origin || !allowed.has(origin)) throw forbidden(origin, hop);
      let response: Response;
      try {
        response = await doFetch(url, {
          headers: { Authorization: `Bearer ${options.token}` },
          redirect: 'manual',
          signal,
        });
      } catch (error) {
        if (signal.aborted) throw new AppError('CANCELLED', 'download aborted', { cause: error });
        throw new AppError('DOWNLOAD_FAILED', 'slack file request failed', { cause: error });
      }
      if (REDIRECTS.has(response.status)) {
        const location = response.headers.get('location');
        await response.body?.cancel();
        if (!location)
          throw new AppError('DOWNLOAD_FAILED', 'redirect without location', { retryable: false });
        url = new URL(location, url).href;
        continue;
      }
      if (!response.ok) {
        await response.body?.cancel();
        const retryable = response.status >= 500 || response.status === 429;
        throw new AppError('DOWNLOAD_FAILED', `slack file download answered ${response.status}`, {
          retryable,
          details: { status: response.status },
        });
      }
      if (/^text\/html\b/i.test(response.headers.get('content-type') ?? '')) {
        await response.body?.cancel();
        throw htmlError();
      }
      const declared = Number(response.headers.get('content-length') ?? Number.NaN);
      if (Number.isFinite(declared) && declared > options.maxBytes) {
        await response.body?.cancel();
        throw tooLarge(declared);
      }
      return readChecked(response, options.maxBytes, tooLarge);
    }
    throw new AppError('DOWNLOAD_FAILED', 'too many redirects', { retryable: false });
  };
}

function htmlError(): AppError {
  return new AppError('INPUT_HTML', 'slack answered a web page instead of the file', {
    userMessage:
      'Slack returned a sign-in page instead of the file — the app probably lacks the files:read scope. Ask an admin to add files:read and reinstall the app.',
  });
}

async function readChecked(response: Response, maxBytes: number, tooLarge: () => AppError): Promise<Buffer> {
  const bytes = await readCapped(response, {
    maxBytes,
    tooLarge,
    inspect: (first) => {
      if (looksLikeHtml(first)) throw htmlError();
    },
  });
  if (looksLikeHtml(bytes)) throw htmlError();
  return bytes;
}
