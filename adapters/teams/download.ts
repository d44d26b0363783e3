import type { AttachmentRef } from '../../src/core/types.ts';
import { AppError } from '../../src/errors.ts';
import { readCapped } from '../../src/net/read-capped.ts';
import { onHostList, originOf } from './hosts.ts';

/**
 * Attachment downloads, written here instead of using the SDK's (which copies the bot token onto every
 * download, whatever the host). Two kinds, decided once by to-request.ts and kept in `fileId`:
 * - `connector|<origin>|<id>`: an image pasted inline, served by the Bot Connector under
 *   `{serviceUrl}/v3/attachments/…` and readable only with the bot token. The token is sent only when
 *   the URL's origin equals the activity's serviceUrl origin (recorded in fileId) AND that host is on
 *   TEAMS_SERVICE_HOSTS, over https. Redirects are followed without the token, only to hosts on
 *   TEAMS_SERVICE_HOSTS or TEAMS_FILE_HOSTS.
 * - `download|<id>`: a file sent in a personal chat, whose `downloadUrl` is pre-authorised
 *   (https://learn.microsoft.com/microsoftteams/platform/bots/how-to/bots-filesv4): fetched with
 *   no credentials at all, only from a host on TEAMS_FILE_HOSTS (the sender's OneDrive / SharePoint).
 */

export interface TeamsDownloadOptions {
  serviceHosts: readonly string[];
  /** Hosts a pre-authorised link or a redirect may lead to (never with the token). */
  fileHosts: readonly string[];
  maxBytes: number;
  /** The bot's connector token (from Entra, cached by the SDK). */
  token(): Promise<string>;
  fetch: typeof fetch;
  timeoutMs?: number;
}

const MAX_REDIRECTS = 3;

export function connectorFileId(serviceOrigin: string, id: string): string {
  return `connector|${serviceOrigin}|${id}`;
}

export function downloadFileId(id: string): string {
  return `download|${id}`;
}

/** May the bot token be attached to a request for this attachment? */
export function mayCarryToken(
  attachment: Pick<AttachmentRef, 'fileId' | 'url'>,
  hosts: readonly string[],
): boolean {
  const [kind, origin] = attachment.fileId.split('|');
  return (
    kind === 'connector' &&
    origin !== undefined &&
    originOf(attachment.url) === origin &&
    onHostList(attachment.url, hosts)
  );
}

function forbidden(): AppError {
  return new AppError(
    'DOWNLOAD_FORBIDDEN_HOST',
    'teams attachment is not on the connector or an https link',
    {
      userMessage:
        'quickread only fetches images pasted into the Teams message or files sent to it in a personal chat; attach the image itself.',
    },
  );
}

function tooLarge(maxBytes: number): AppError {
  const mb = Math.round(maxBytes / (1024 * 1024));
  return new AppError('INPUT_TOO_LARGE', `teams attachment exceeds ${maxBytes} bytes`, {
    userMessage: `The file is larger than the ${mb} MB quickread accepts.`,
    details: { maxBytes },
  });
}

export async function downloadTeamsAttachment(
  attachment: Pick<AttachmentRef, 'fileId' | 'url'>,
  options: TeamsDownloadOptions,
  signal?: AbortSignal,
): Promise<Buffer> {
  const withToken = mayCarryToken(attachment, options.serviceHosts);
  const preAuthorised = attachment.fileId.startsWith('download|');
  const mayFetch = (url: string) =>
    onHostList(url, options.serviceHosts) || onHostList(url, options.fileHosts);
  if (!withToken && !(preAuthorised && mayFetch(attachment.url))) throw forbidden();
  const combined = AbortSignal.any([
    AbortSignal.timeout(options.timeoutMs ?? 60_000),
    ...(signal ? [signal] : []),
  ]);
  let current = attachment.url;
  let headers: Record<string, string> = withToken ? { authorization: `Bearer ${await options.token()}` } : {};
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    let response: Response;
    try {
      response = await options.fetch(current, { headers, redirect: 'manual', signal: combined });
    } catch (error) {
      if (signal?.aborted) throw new AppError('CANCELLED', 'teams download aborted', { cause: error });
      throw new AppError('DOWNLOAD_FAILED', 'teams attachment fetch failed', {
        cause: error,
        retryable: true,
      });
    }
    if (response.status >= 300 && response.status < 400) {
      await response.body?.cancel();
      const location = response.headers.get('location');
      if (!location) break;
      current = new URL(location, current).toString();
      if (!mayFetch(current)) throw forbidden();
      // The token was for the connector only; a redirect (e.g. to blob storage) never carries it.
      headers = {};
      continue;
    }
    if (!response.ok) {
      await response.body?.cancel();
      const gone = response.status === 403 || response.status === 404 || response.status === 410;
      throw new AppError('DOWNLOAD_FAILED', `teams attachment fetch returned HTTP ${response.status}`, {
        retryable: response.status >= 500 || response.status === 429,
        ...(gone
          ? { userMessage: 'Teams no longer serves that image (expired or deleted); post it again.' }
          : {}),
        details: { status: response.status },
      });
    }
    if ((response.headers.get('content-type') ?? '').toLowerCase().startsWith('text/html')) {
      // A sign-in or error page instead of the file (an expired link): never fed to the decoder.
      await response.body?.cancel();
      throw new AppError('INPUT_HTML', 'teams attachment URL returned HTML', {
        userMessage: 'Teams returned a web page instead of the file; post the image again.',
      });
    }
    const declared = Number(response.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > options.maxBytes) {
      await response.body?.cancel();
      throw tooLarge(options.maxBytes);
    }
    try {
      return await readCapped(response, {
        maxBytes: options.maxBytes,
        tooLarge: () => tooLarge(options.maxBytes),
      });
    } catch (error) {
      if (error instanceof AppError) throw error;
      if (signal?.aborted) throw new AppError('CANCELLED', 'teams download aborted', { cause: error });
      throw new AppError('DOWNLOAD_FAILED', 'teams attachment stream failed', {
        cause: error,
        retryable: true,
      });
    }
  }
  throw new AppError('DOWNLOAD_FAILED', 'teams attachment redirected too often', { retryable: false });
}
