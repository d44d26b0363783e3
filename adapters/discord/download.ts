import { AppError } from '../../src/errors.ts';
import { readCapped } from '../../src/net/read-capped.ts';

/**
 * Attachment downloads. Discord attachment URLs are signed CDN links (`ex`/`is`/`hm` query) that need
 * no credentials and expire, so: plain fetch with NO Authorization header (the bot token never leaves
 * for a download — discord.js REST is not used here), only from the exact origins configured in
 * DISCORD_CDN_HOSTS (scheme + host + port), redirects followed only within those origins, and the
 * size capped while streaming.
 */

export interface DownloadOptions {
  /** Exact origins, e.g. https://cdn.discordapp.com. */
  allowedOrigins: readonly string[];
  maxBytes: number;
  fetch: typeof fetch;
  timeoutMs?: number;
}

const MAX_REDIRECTS = 3;

export function normaliseOrigins(origins: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const origin of origins) {
    try {
      out.add(new URL(origin).origin);
    } catch {
      // config.ts validated the list; an entry that still fails to parse allows nothing.
    }
  }
  return out;
}

export function isAllowedUrl(url: string, allowed: ReadonlySet<string>): boolean {
  try {
    const parsed = new URL(url);
    if (parsed.username || parsed.password) return false;
    return allowed.has(parsed.origin);
  } catch {
    return false;
  }
}

function forbidden(): AppError {
  return new AppError('DOWNLOAD_FORBIDDEN_HOST', 'discord attachment host is not in DISCORD_CDN_HOSTS', {
    userMessage:
      'That file is not hosted on Discord’s attachment servers, so quickread did not fetch it. Attach the image to your message instead.',
  });
}

function tooLarge(maxBytes: number): AppError {
  const mb = Math.round(maxBytes / (1024 * 1024));
  return new AppError('INPUT_TOO_LARGE', `discord attachment exceeds ${maxBytes} bytes`, {
    userMessage: `The file is larger than the ${mb} MB quickread accepts.`,
    details: { maxBytes },
  });
}

export async function downloadAttachment(
  url: string,
  options: DownloadOptions,
  signal?: AbortSignal,
): Promise<Buffer> {
  const allowed = normaliseOrigins(options.allowedOrigins);
  if (!isAllowedUrl(url, allowed)) throw forbidden();
  const signals = [AbortSignal.timeout(options.timeoutMs ?? 60_000)];
  if (signal) signals.push(signal);
  const combined = AbortSignal.any(signals);

  let current = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    let response: Response;
    try {
      // No headers beyond fetch's defaults: no Authorization, no cookies (credentials are never attached).
      response = await options.fetch(current, { method: 'GET', redirect: 'manual', signal: combined });
    } catch (error) {
      if (signal?.aborted) throw new AppError('CANCELLED', 'discord download aborted', { cause: error });
      throw new AppError('DOWNLOAD_FAILED', 'discord attachment fetch failed', {
        cause: error,
        retryable: true,
      });
    }
    if (response.status >= 300 && response.status < 400) {
      await response.body?.cancel();
      const location = response.headers.get('location');
      if (!location) break;
      const next = new URL(location, current).toString();
      if (!isAllowedUrl(next, allowed)) throw forbidden();
      current = next;
      continue;
    }
    if (!response.ok) {
      await response.body?.cancel();
      const gone = response.status === 403 || response.status === 404 || response.status === 410;
      throw new AppError('DOWNLOAD_FAILED', `discord attachment fetch returned HTTP ${response.status}`, {
        retryable: response.status >= 500 || response.status === 429,
        ...(gone
          ? { userMessage: 'The attachment link expired or the file was deleted; post the image again.' }
          : {}),
        details: { status: response.status },
      });
    }
    const type = response.headers.get('content-type') ?? '';
    if (type.toLowerCase().startsWith('text/html')) {
      await response.body?.cancel();
      throw new AppError('INPUT_HTML', 'discord attachment URL returned HTML', {
        userMessage: 'Discord returned a web page instead of the file; post the image again.',
      });
    }
    const declared = Number(response.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > options.maxBytes) {
      await response.body?.cancel();
      throw tooLarge(options.maxBytes);
    }
    return readBody(response, options.maxBytes, signal);
  }
  throw new AppError('DOWNLOAD_FAILED', 'discord attachment redirected too often', { retryable: false });
}

async function readBody(response: Response, maxBytes: number, signal?: AbortSignal): Promise<Buffer> {
  try {
    return await readCapped(response, { maxBytes, tooLarge: () => tooLarge(maxBytes) });
  } catch (error) {
    if (error instanceof AppError) throw error;
    if (signal?.aborted) throw new AppError('CANCELLED', 'discord download aborted', { cause: error });
    throw new AppError('DOWNLOAD_FAILED', 'discord attachment stream failed', {
      cause: error,
      retryable: true,
    });
  }
}
