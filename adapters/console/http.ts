import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import busboy from 'busboy';
import { AppError, toAppError } from '../../src/errors.ts';
import { tooLargeError } from './download.ts';

/** Small HTTP helpers for the console server: identity cookie, JSON replies, bounded multipart parsing. */

const cookieName = 'qr_console';

export interface ConsoleUser {
  /** What the core sees: a pseudonym derived from the cookie, never the cookie itself, never a name. */
  userId: string;
  /** What other people on the page see. */
  name: string;
}

function readCookie(req: IncomingMessage): string | undefined {
  const header = req.headers.cookie ?? '';
  for (const part of header.split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === cookieName) {
      const value = rest.join('=');
      return /^[a-f0-9]{32}$/.test(value) ? value : undefined;
    }
  }
  return undefined;
}

export function userFromSecret(secret: string): ConsoleUser {
  const digest = createHash('sha256').update(`quickread-console:${secret}`).digest('hex');
  return { userId: `console:${digest.slice(0, 16)}`, name: `user-${digest.slice(0, 4)}` };
}

/** The caller's pseudonymous identity; on a page load without one, a fresh random cookie is issued. */
export function identify(req: IncomingMessage, res: ServerResponse, issue: boolean): ConsoleUser | undefined {
  const existing = readCookie(req);
  if (existing) return userFromSecret(existing);
  if (!issue) return undefined;
  const secret = randomBytes(16).toString('hex');
  // SameSite=Strict: another site's page cannot post to the console with this cookie (CSRF).
  res.setHeader(
    'set-cookie',
    `${cookieName}=${secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${60 * 60 * 24 * 365}`,
  );
  return userFromSecret(secret);
}

/**
 * Refuse cross-origin writes and DNS-rebinding: a browser always sends Origin on a POST, and it must be
 * this server's own origin.
 */
export function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

export function sendError(res: ServerResponse, status: number, error: unknown): void {
  const appError = toAppError(error);
  sendJson(res, status, { error: appError.toJSON() });
}

export async function readSmallJson(req: IncomingMessage, maxBytes = 8192): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).byteLength;
    if (size > maxBytes) throw new AppError('USAGE', 'console json body too large');
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (error) {
    throw new AppError('USAGE', 'console json body malformed', { cause: error });
  }
}

export interface ParsedFile {
  bytes: Buffer;
  name: string;
  mimeType: string;
}

export interface ParsedForm {
  fields: Record<string, string>;
  /** Every file part, in the order posted (a study: PA then lateral, issue 17); empty when none. */
  files: ParsedFile[];
}

/**
 * Files one console message may carry, as Slack allows 10 per message: the core reads STUDY_MAX_IMAGES
 * of them and names the rest in its reply, so a few more than the budget are taken, not refused.
 */
export const MAX_FILES_PER_POST = 10;

/** Parse one multipart/form-data post (RFC 7578) with busboy, capping each file and the field sizes. */
export function readMultipart(req: IncomingMessage, maxFileBytes: number): Promise<ParsedForm> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: req.headers,
        limits: {
          files: MAX_FILES_PER_POST,
          fields: 8,
          fieldSize: 16 * 1024,
          fileSize: maxFileBytes,
          parts: MAX_FILES_PER_POST + 8,
        },
      });
    } catch (error) {
      reject(new AppError('USAGE', 'not a multipart body', { cause: error }));
      return;
    }
    const fields: Record<string, string> = {};
    // Slots reserved as each part starts, so the order is the posted order whatever finishes first.
    const slots: Array<ParsedFile | undefined> = [];
    let failure: AppError | undefined;
    parser.on('field', (name, value) => {
      fields[name] = value;
    });
    parser.on('file', (_field, stream, info) => {
      const slot = slots.push(undefined) - 1;
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('limit', () => {
        failure = tooLargeError(maxFileBytes);
      });
      stream.on('end', () => {
        if (!failure && chunks.length > 0) {
          slots[slot] = { bytes: Buffer.concat(chunks), name: info.filename ?? '', mimeType: info.mimeType };
        }
      });
    });
    parser.on('filesLimit', () => {
      failure = new AppError('USAGE', `console post over ${MAX_FILES_PER_POST} files`, {
        userMessage: `Attach at most ${MAX_FILES_PER_POST} files to one message.`,
      });
    });
    parser.on('error', (error) =>
      reject(new AppError('USAGE', 'multipart body malformed', { cause: error })),
    );
    parser.on('close', () => {
      if (failure) reject(failure);
      else resolve({ fields, files: slots.filter((file): file is ParsedFile => file !== undefined) });
    });
    req.pipe(parser);
  });
}

export function statusFor(error: unknown): number {
  const appError = toAppError(error);
  switch (appError.code) {
    case 'INPUT_TOO_LARGE':
      return 413;
    case 'USAGE':
      return 400;
    case 'NOT_ALLOWED':
      return 403;
    case 'INTERNAL':
      return 500;
    default:
      return 422;
  }
}
