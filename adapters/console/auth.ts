import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../../src/config.ts';
import { checkConsoleExposure, secretMatches } from '../../src/net/http-guard.ts';
import { type ConsoleUser, identify, userFromSecret } from './http.ts';

/**
 * Who may use the console (issue 18). On loopback nobody else can reach it, so a pseudonym cookie is
 * enough (`CONSOLE_AUTH=none`). Beyond loopback it serves every channel's questions and reads, so it needs
 * a sign-in: a shared token that opens a signed, expiring session (`token`), or a user name that a
 * reverse proxy in front of it has already authenticated (`proxy`).
 */
export interface ConsoleAuth {
  readonly mode: Config['CONSOLE_AUTH'];
  /** The signed-in user, or undefined (the caller answers 401). `issue`: may set a cookie (page loads). */
  identify(req: IncomingMessage, res: ServerResponse, issue: boolean): ConsoleUser | undefined;
  /** Start a session from a presented token; false when it does not match. */
  signIn(res: ServerResponse, token: string, secure: boolean): boolean;
  signOut(res: ServerResponse): void;
  /** What to print once at start so the operator can sign in (the token only when quickread made it). */
  notice(url: string): string | undefined;
}

const sessionCookie = 'qr_session';

export { checkConsoleExposure };

function readCookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return rest.join('=');
  }
  return undefined;
}

/**
 * Sessions are `v1.<id>.<expiry>.<HMAC-SHA256>` keyed by a key derived from CONSOLE_TOKEN: nothing is
 * stored server-side, a session ends at its expiry, and changing the token invalidates every session.
 */
function createSessions(token: string, lifetimeMs: number, clock: () => number) {
  const key = createHmac('sha256', token).update('quickread console session v1').digest();
  const sign = (body: string) => createHmac('sha256', key).update(body).digest('base64url');
  return {
    issue(): { value: string; maxAgeSec: number } {
      const expires = Math.floor((clock() + lifetimeMs) / 1000);
      const body = `v1.${randomBytes(16).toString('hex')}.${expires}`;
      return { value: `${body}.${sign(body)}`, maxAgeSec: Math.floor(lifetimeMs / 1000) };
    },
    /** The session id of a valid, unexpired session. */
    verify(value: string | undefined): string | undefined {
      const match = /^(v1\.([0-9a-f]{32})\.(\d{1,12}))\.([\w-]{43})$/.exec(value ?? '');
      if (!match) return undefined;
      const expected = Buffer.from(sign(match[1]!));
      const given = Buffer.from(match[4]!);
      if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
      if (Number(match[3]) * 1000 <= clock()) return undefined;
      return match[2];
    },
  };
}

export function createConsoleAuth(config: Config, clock: () => number): ConsoleAuth {
  checkConsoleExposure(config);
  const mode = config.CONSOLE_AUTH;
  if (mode === 'none') {
    return {
      mode,
      identify,
      signIn: () => false,
      signOut: () => undefined,
      notice: () => undefined,
    };
  }
  if (mode === 'proxy') {
    const header = config.CONSOLE_PROXY_HEADER.toLowerCase();
    const trusted = new Set(config.CONSOLE_TRUSTED_PROXY.map((ip) => ip.toLowerCase()));
    return {
      mode,
      identify(req) {
        const peer = (req.socket.remoteAddress ?? '').toLowerCase().replace(/^::ffff:/, '');
        // Anyone can send the header; only the proxy's own connection is believed.
        if (!trusted.has(peer)) return undefined;
        const value = req.headers[header];
        const name = Array.isArray(value) ? value[0] : value;
        // The proxy's user name becomes a pseudonym like every console user: never shown or stored.
        return name ? userFromSecret(`proxy:${name}`) : undefined;
      },
      signIn: () => false,
      signOut: () => undefined,
      notice: (url) => `console sign-in: through the reverse proxy (${config.CONSOLE_PROXY_HEADER}) → ${url}`,
    };
  }
  const generated = config.CONSOLE_TOKEN === '';
  const token = generated ? randomBytes(24).toString('base64url') : config.CONSOLE_TOKEN;
  const sessions = createSessions(token, config.CONSOLE_SESSION_HOURS * 3600 * 1000, clock);
  const setCookie = (res: ServerResponse, value: string, maxAge: number, secure: boolean) =>
    res.setHeader(
      'set-cookie',
      // SameSite=Strict: another site's page cannot post with this cookie (CSRF); HttpOnly: no script reads it.
      `${sessionCookie}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${secure ? '; Secure' : ''}`,
    );
  return {
    mode,
    identify(req) {
      const id = sessions.verify(readCookie(req, sessionCookie));
      return id ? userFromSecret(id) : undefined;
    },
    signIn(res, presented, secure) {
      if (!secretMatches(presented, token)) return false;
      const session = sessions.issue();
      setCookie(res, session.value, session.maxAgeSec, secure);
      return true;
    },
    signOut(res) {
      setCookie(res, '', 0, false);
    },
    notice(url) {
      return generated
        ? `console sign-in link (valid until quickread restarts; set CONSOLE_TOKEN to keep one): ${url}login?token=${token}`
        : `console sign-in: ${url}login with CONSOLE_TOKEN`;
    },
  };
}
