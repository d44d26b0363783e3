import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BotCore, HandleOutcome } from '../../src/core/adapter.ts';
import type { OutboundMessage } from '../../src/core/reply.ts';
import { AppError, isErrorCode, toAppError } from '../../src/errors.ts';
import type { Logger } from '../../src/log.ts';
import { hostServed } from '../../src/net/http-guard.ts';
import type { ConsoleAuth } from './auth.ts';
import type { UploadStore } from './download.ts';
import {
  type ConsoleUser,
  type ParsedFile,
  readMultipart,
  readSmallJson,
  sameOrigin,
  sendError,
  sendJson,
  statusFor,
} from './http.ts';
import { loginRoutes, sendSignInPage } from './login.ts';
import { renderUserMessage } from './render.ts';
import type { ConsoleState } from './state.ts';
import {
  type ConsoleUpload,
  cleanQuestion,
  consoleCommand,
  describeUploads,
  isValidChannel,
  toInboundRequest,
} from './to-request.ts';

/** The console's routes: the page, its event stream, posting, card buttons, previews. */

const staticDir = new URL('./static/', import.meta.url);
const staticFiles: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/static/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/static/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

// No inline script or style anywhere: a model string that slipped past escaping still cannot execute.
const csp =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

export interface ConsoleRoutesDeps {
  logger: Logger;
  maxUploadBytes: number;
  /** Host names the console is reached by besides localhost and IP addresses (SERVER_NAMES). */
  serverNames: readonly string[];
  auth: ConsoleAuth;
  channels: readonly string[];
  state: ConsoleState;
  uploads: UploadStore;
  previews: Map<string, Buffer>;
  core: () => BotCore | undefined;
  /** Post a bot message in a thread; with `visibleTo`, only that user sees it. */
  postBot: (
    thread: { channelId: string; threadId: string },
    message: OutboundMessage,
    visibleTo?: string,
  ) => void;
  clock: () => number;
  extraRoutes?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
}

export function createConsoleRoutes(deps: ConsoleRoutesDeps) {
  const files = new Map<string, Buffer>();
  for (const [path, entry] of Object.entries(staticFiles)) {
    files.set(path, readFileSync(new URL(entry.file, staticDir)));
  }

  const serveStatic = (req: IncomingMessage, res: ServerResponse, path: string) => {
    const entry = staticFiles[path]!;
    // Script and style hold no data; the page itself is only for a signed-in user.
    if (path === '/' && !deps.auth.identify(req, res, true)) return sendSignInPage(res, deps.auth.mode);
    res.writeHead(200, {
      'content-type': entry.type,
      'cache-control': 'no-cache',
      'content-security-policy': csp,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    });
    res.end(files.get(path));
  };

  const events = (req: IncomingMessage, res: ServerResponse, user: ConsoleUser) => {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 1000\n\n');
    deps.state.subscribe(res, user.userId, { name: user.name }, deps.channels);
    req.socket.setTimeout(0);
  };

  /**
   * Each file is held and counted against QUEUE_MAX as a single upload is; when one does not fit
   * (QUEUE_FULL), those of the same message already held are let go, so a refused post holds nothing.
   */
  const holdUploads = (files: readonly ParsedFile[]): ConsoleUpload[] => {
    const held: ConsoleUpload[] = [];
    try {
      for (const file of files) {
        held.push({
          fileId: deps.uploads.put(file.bytes),
          mimeType: file.mimeType,
          sizeBytes: file.bytes.byteLength,
          name: file.name,
        });
      }
    } catch (error) {
      for (const upload of held) deps.uploads.release(upload.fileId);
      throw error;
    }
    return held;
  };

  const postMessage = async (req: IncomingMessage, res: ServerResponse, user: ConsoleUser) => {
    const core = deps.core();
    if (!core) throw new AppError('INTERNAL', 'console not started');
    const form = await readMultipart(req, deps.maxUploadBytes);
    const channelId = form.fields.channel ?? '';
    if (!isValidChannel(channelId, deps.channels)) {
      throw new AppError('USAGE', 'unknown console channel', { userMessage: 'Unknown channel.' });
    }
    const rootId = form.fields.threadId || undefined;
    if (rootId) {
      const root = deps.state.get(rootId);
      if (!root || root.channelId !== channelId || root.threadId !== root.id) {
        throw new AppError('USAGE', 'unknown console thread', {
          userMessage: 'That thread no longer exists.',
        });
      }
    }
    const question = cleanQuestion(form.fields.question ?? '');
    if (!question && form.files.length === 0) {
      throw new AppError('USAGE', 'empty console post', {
        userMessage: 'Type a question or attach an image.',
      });
    }
    const messageId = `m-${randomUUID()}`;
    const at = new Date(deps.clock()).toISOString();
    const command = form.files.length === 0 && !rootId ? consoleCommand(question) : undefined;
    if (command) {
      // Answered like Slack's /quickread: only the person who asked sees the question and the answer.
      const thread = { channelId, threadId: messageId };
      const view = { kind: 'user' as const, html: renderUserMessage(question, undefined) };
      deps.state.upsert({
        id: messageId,
        ...thread,
        author: { kind: 'user', name: user.name },
        at,
        view,
        visibleTo: user.userId,
      });
      deps.postBot(
        thread,
        core.command({ kind: command, platform: 'console', channelId, userId: user.userId }),
        user.userId,
      );
      return sendJson(res, 202, { messageId, outcome: 'command' });
    }
    const uploads = holdUploads(form.files);
    const thread = { channelId, threadId: rootId ?? messageId };
    deps.state.upsert({
      id: messageId,
      ...thread,
      author: { kind: 'user', name: user.name },
      at,
      view: {
        kind: 'user',
        html: renderUserMessage(
          question,
          uploads.length > 0
            ? {
                kind: describeUploads(uploads),
                sizeBytes: uploads.reduce((sum, upload) => sum + upload.sizeBytes, 0),
              }
            : undefined,
        ),
      },
    });
    let outcome: HandleOutcome;
    try {
      outcome = await core.handle(
        toInboundRequest({
          messageId,
          channelId,
          ...(rootId ? { threadId: rootId } : {}),
          userId: user.userId,
          question,
          ...(uploads.length > 0 ? { uploads } : {}),
          receivedAt: at,
        }),
      );
    } catch (error) {
      // The message is already on the page: answer in its thread rather than leave it hanging.
      const appError = toAppError(error);
      deps.logger.error({ err: appError }, 'core refused a console message');
      outcome = {
        kind: 'refused',
        code: appError.code,
        reply: { kind: 'error', code: appError.code, text: appError.userMessage },
      };
    }
    // Only an accepted request keeps its uploads; anything else frees their places at once.
    if (outcome.kind !== 'accepted' && outcome.kind !== 'followup')
      for (const upload of uploads) deps.uploads.release(upload.fileId);
    // The core posts statuses and cards itself; the console shows only what the core handed back.
    if (outcome.reply) deps.postBot(thread, outcome.reply);
    // A refusal that says when to come back (the bot is stopping) is a 503 with Retry-After (RFC 9110
    // §15.6.4, §10.2.3), so the page keeps the draft and says why instead of treating it as posted.
    if (outcome.kind === 'refused' && outcome.retryAfterSec !== undefined) {
      const text = outcome.reply?.kind === 'error' ? outcome.reply.text : undefined;
      sendJson(
        res,
        503,
        {
          messageId,
          outcome: outcome.kind,
          error: { code: outcome.code, ...(text ? { message: text } : {}) },
        },
        { 'retry-after': String(outcome.retryAfterSec) },
      );
      return;
    }
    sendJson(res, 202, { messageId, outcome: outcome.kind });
  };

  const cardAction = async (res: ServerResponse, user: ConsoleUser, jobId: string, action: string) => {
    const core = deps.core();
    if (!core) throw new AppError('INTERNAL', 'console not started');
    const kind = action === 'ack' ? 'acknowledge' : action === 'up' ? 'up' : 'down';
    const outcome = await core.act({ kind, platform: 'console', jobId, userId: user.userId });
    if (!outcome.done) {
      const reply = outcome.reply?.kind === 'error' ? outcome.reply : undefined;
      throw new AppError(isErrorCode(reply?.code) ? reply.code : 'USAGE', `console ${kind} refused`, {
        ...(reply ? { userMessage: reply.text } : {}),
      });
    }
    deps.state.updateCard(jobId, (card) => {
      if (kind === 'acknowledge') {
        card.card = { ...card.card, acknowledgedBy: { userId: user.userId, at: outcome.at ?? '' } };
        card.extras.acknowledgedByName = user.name;
      } else card.voters.set(user.userId, kind);
    });
    sendJson(res, 200, { ok: true, ...(outcome.at ? { at: outcome.at } : {}) });
  };

  return async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://console.invalid');
    const path = url.pathname === '/index.html' ? '/' : url.pathname;
    try {
      if (!hostServed(req, deps.serverNames)) {
        return sendJson(res, 421, {
          error: {
            code: 'NOT_ALLOWED',
            message:
              'This host name is not served here: open the console by its own address, or add the name to SERVER_NAMES.',
          },
        });
      }
      if (deps.extraRoutes && (await deps.extraRoutes(req, res))) return;
      if (await loginRoutes(req, res, path, deps.auth)) return;
      if (req.method === 'GET' && staticFiles[path]) return serveStatic(req, res, path);
      const preview = /^\/api\/previews\/([\w-]+)\.png$/.exec(path);
      if (req.method === 'GET' && preview) {
        // The de-identified image is still a patient's scan: only for signed-in users.
        if (!deps.auth.identify(req, res, false)) return sendSignInPage(res, deps.auth.mode);
        const png = deps.previews.get(preview[1]!);
        if (!png) return sendJson(res, 404, { error: { code: 'USAGE', message: 'No such preview.' } });
        res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'private, max-age=3600' });
        res.end(png);
        return;
      }
      if (!path.startsWith('/api/'))
        return sendJson(res, 404, { error: { code: 'USAGE', message: 'Not found.' } });
      const user = deps.auth.identify(req, res, false);
      if (!user)
        return sendJson(res, 401, {
          error: { code: 'NOT_ALLOWED', message: 'Sign in again: reload the page.' },
        });
      deps.state.rememberName(user.userId, user.name);
      if (req.method === 'GET' && path === '/api/events') return events(req, res, user);
      if (req.method !== 'POST')
        return sendJson(res, 405, { error: { code: 'USAGE', message: 'Method not allowed.' } });
      if (!sameOrigin(req))
        return sendJson(res, 403, { error: { code: 'NOT_ALLOWED', message: 'Cross-origin.' } });
      if (path === '/api/messages') return await postMessage(req, res, user);
      const action = /^\/api\/jobs\/([\w:.-]+)\/(ack|up|down)$/.exec(path);
      if (action) {
        await readSmallJson(req);
        return await cardAction(res, user, action[1]!, action[2]!);
      }
      sendJson(res, 404, { error: { code: 'USAGE', message: 'Not found.' } });
    } catch (error) {
      const status = statusFor(error);
      if (status >= 500) deps.logger.error({ err: error }, 'console request failed');
      else deps.logger.info({ code: (error as AppError).code }, 'console request refused');
      if (!res.headersSent) sendError(res, status, error);
      else res.end();
    }
  };
}
