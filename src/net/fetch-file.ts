import { AppError } from '../errors.ts';
import { readCapped } from './read-capped.ts';

/**
 * Fetch a chat attachment safely, for every adapter: only from exact allowed origins (scheme, host and
 * port), redirects followed by hand and re-checked at each hop — so a credential header can only ever
 * reach an allowed origin — the size capped while streaming, and a web page where bytes were expected
 * refused. What differs per platform (credentials, the words of each refusal) comes in the options.
 */

export interface FetchFileOptions {
  /** Exact origins (see `exactOrigins`). */
  allowed: ReadonlySet<string>;
  maxBytes: number;
  fetch: typeof fetch;
  /** Sent with every request (e.g. Slack's Authorization); never to an origin outside `allowed`. */
  headers?: Record<string, string>;
  maxRedirects: number;
  timeoutMs?: number;
  /** Names the source in technical messages, e.g. "slack file". Never shown to users. */
  what: string;
  /** Also sniff the body for HTML (a sign-in page served with a binary content type). */
  sniffHtml?: boolean;
  refusals: {
    /** The URL (hop 0) or a redirect (hop ≥ 1) points outside `allowed`. */
    forbidden(hop: number): AppError;
    tooLarge(bytes?: number): AppError;
    html(): AppError;
    /** A platform's own words for an HTTP status (e.g. an expired link); undefined for the default. */
    status?(status: number): string | undefined;
  };
}

export function exactOrigins(origins: readonly string[]): Set<string> {
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

/** http(s), no credentials in the URL, and an origin on the list. */
export function isAllowedUrl(url: string, allowed: ReadonlySet<string>): boolean {
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return false;
    if (parsed.username || parsed.password) return false;
    return allowed.has(parsed.origin);
  } catch {
    return false;
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

const looksLikeHtml = (head: Buffer): boolean =>
  /^\s*<(!doctype\s+html|html[\s>])/i.test(head.subarray(0, 512).toString('latin1'));

export async function fetchFile(
  url: string,
  options: FetchFileOptions,
  signal?: AbortSignal,
): Promise<Buffer> {
  const signals = signal ? [signal] : [];
  if (options.timeoutMs) signals.push(AbortSignal.timeout(options.timeoutMs));
  const combined = signals.length > 0 ? AbortSignal.any(signals) : undefined;
  const failed = (cause: unknown, stage: string) =>
    signal?.aborted
      ? new AppError('CANCELLED', `${options.what} download aborted`, { cause })
      : new AppError('DOWNLOAD_FAILED', `${options.what} ${stage} failed`, { cause, retryable: true });

  let current = url;
  for (let hop = 0; hop <= options.maxRedirects; hop += 1) {
    // Checked before every request, so the headers can only ever reach an allowed origin.
    if (!isAllowedUrl(current, options.allowed)) throw options.refusals.forbidden(hop);
    let response: Response;
    try {
      response = await options.fetch(current, {
        method: 'GET',
        headers: options.headers ?? {},
        redirect: 'manual',
        ...(combined ? { signal: combined } : {}),
      });
    } catch (error) {
      throw failed(error, 'request');
    }
    if (REDIRECTS.has(response.status)) {
      await response.body?.cancel();
      const location = response.headers.get('location');
      if (!location)
        throw new AppError('DOWNLOAD_FAILED', `${options.what}: redirect without location`, {
          retryable: false,
        });
      current = new URL(location, current).href;
      continue;
    }
    if (!response.ok) {
      await response.body?.cancel();
      const userMessage = options.refusals.status?.(response.status);
      throw new AppError('DOWNLOAD_FAILED', `${options.what} download answered HTTP ${response.status}`, {
        retryable: response.status >= 500 || response.status === 429,
        details: { status: response.status },
        ...(userMessage ? { userMessage } : {}),
      });
    }
    if (/^text\/html\b/i.test(response.headers.get('content-type') ?? '')) {
      await response.body?.cancel();
      throw options.refusals.html();
    }
    const declared = Number(response.headers.get('content-length') ?? Number.NaN);
    if (Number.isFinite(declared) && declared > options.maxBytes) {
      await response.body?.cancel();
      throw options.refusals.tooLarge(declared);
    }
    let bytes: Buffer;
    try {
      bytes = await readCapped(response, {
        maxBytes: options.maxBytes,
        tooLarge: () => options.refusals.tooLarge(),
        ...(options.sniffHtml
          ? {
              inspect: (first: Buffer) => {
                if (looksLikeHtml(first)) throw options.refusals.html();
              },
            }
          : {}),
      });
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw failed(error, 'stream');
    }
    if (options.sniffHtml && looksLikeHtml(bytes)) throw options.refusals.html();
    return bytes;
  }
  throw new AppError('DOWNLOAD_FAILED', `${options.what}: too many redirects`, { retryable: false });
}
