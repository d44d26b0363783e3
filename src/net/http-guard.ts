import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';

/**
 * Guards shared by the two HTTP servers (the console and `serve-api`): which Host names they answer to,
 * who counts as loopback, and a constant-time secret comparison. Pure functions over a request.
 */

const loopbackNames = new Set(['localhost', '127.0.0.1', '::1']);

/** The host name of a Host header, without port or IPv6 brackets, lower-cased. */
export function hostName(hostHeader: string | undefined): string {
  const host = (hostHeader ?? '').trim().toLowerCase();
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']'));
  return host.split(':')[0] ?? '';
}

/** True for 127.0.0.0/8, ::1, and localhost: an address only this machine can reach. */
export function isLoopbackAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '').toLowerCase();
  if (loopbackNames.has(bare)) return true;
  const v4 = bare.startsWith('::ffff:') ? bare.slice(7) : bare;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/**
 * DNS-rebinding guard: a page on an attacker's domain that re-points its name at this machine sends
 * `Host: attacker.example`. Only names this server is known by are served: localhost, any IP literal (an
 * IP cannot be re-pointed, and the browser treats it as its own origin) and SERVER_NAMES.
 */
export function hostServed(req: IncomingMessage, serverNames: readonly string[]): boolean {
  const name = hostName(req.headers.host);
  if (name === '') return false;
  if (loopbackNames.has(name) || isIP(name) !== 0) return true;
  return serverNames.some((served) => served.toLowerCase() === name);
}

/**
 * A request that arrived on the loopback interface and was not relayed by a proxy on this machine (a
 * reverse proxy adds X-Forwarded-For / Forwarded, and what it relays comes from the network).
 */
export function fromLoopback(req: IncomingMessage): boolean {
  if (req.headers['x-forwarded-for'] !== undefined || req.headers.forwarded !== undefined) return false;
  return isLoopbackAddress(req.socket.remoteAddress ?? '');
}

/** Compare a presented secret with the expected one in constant time (hashing first equalises lengths). */
export function secretMatches(presented: string, expected: string): boolean {
  if (expected === '') return false;
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1), or undefined. */
export function bearerToken(req: IncomingMessage): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return match?.[1];
}

/**
 * Refuse a console reachable from the network without a sign-in (issue 18): CONFIG_INVALID, exit 2,
 * before anything listens. `quickread doctor` reports the same problem.
 */
export function checkConsoleExposure(
  config: Pick<Config, 'CONSOLE_AUTH' | 'CONSOLE_HOST' | 'CONSOLE_TRUSTED_PROXY'>,
): void {
  if (config.CONSOLE_AUTH === 'proxy' && config.CONSOLE_TRUSTED_PROXY.length === 0) {
    throw new AppError('CONFIG_INVALID', 'console proxy auth without a trusted proxy', {
      userMessage:
        'CONSOLE_AUTH=proxy needs CONSOLE_TRUSTED_PROXY: the address(es) of the reverse proxy allowed to set CONSOLE_PROXY_HEADER.',
      details: { variables: ['CONSOLE_TRUSTED_PROXY'] },
    });
  }
  if (config.CONSOLE_AUTH === 'none' && !isLoopbackAddress(config.CONSOLE_HOST)) {
    throw new AppError('CONFIG_INVALID', 'console beyond loopback without auth', {
      userMessage:
        'CONSOLE_HOST is not a loopback address, so anyone who can reach the port would see every read. ' +
        'Set CONSOLE_AUTH=token (sign-in link printed at start) or CONSOLE_AUTH=proxy with CONSOLE_TRUSTED_PROXY, ' +
        'or keep CONSOLE_HOST=127.0.0.1 behind a reverse proxy.',
      details: { variables: ['CONSOLE_HOST', 'CONSOLE_AUTH'] },
    });
  }
}
