import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ConsoleAuth } from './auth.ts';
import { sameOrigin } from './http.ts';

/**
 * The console's sign-in page and routes for CONSOLE_AUTH=token: `/login?token=…` (the link printed at
 * start) or the form posts the token, gets a signed session cookie and is sent to the page; `/logout`
 * drops the cookie. The page is fixed text: nothing from the request is echoed into it.
 */

const loginCsp =
  "default-src 'none'; style-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

function page(message: string | undefined, mode: ConsoleAuth['mode']): string {
  const body =
    mode === 'proxy'
      ? '<p>Open the console through your organisation’s sign-in (the reverse proxy in front of quickread).</p>'
      : `<form method="post" action="/login" class="login-form">
    <label for="token">Console token</label>
    <input id="token" name="token" type="password" autocomplete="current-password" required>
    <button type="submit" class="send">Sign in</button>
  </form>
  <p class="login-help">The token is CONSOLE_TOKEN, or the sign-in link quickread printed when it started.</p>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Sign in · quickread console</title>
<link rel="stylesheet" href="/static/style.css"></head>
<body class="login"><main class="login-box">
  <h1>quickread console</h1>
  ${message ? `<p class="login-error" role="alert">${message}</p>` : ''}
  ${body}
</main></body></html>`;
}

/** Answer 401 with the sign-in page: the page, the feed and previews all end here without a session. */
export function sendSignInPage(
  res: ServerResponse,
  mode: ConsoleAuth['mode'],
  message?: string,
  status = 401,
): void {
  const html = page(message, mode);
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': loginCsp,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  });
  res.end(html);
}

async function readFormToken(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) {
    text += chunk as string;
    if (text.length > 4096) return '';
  }
  return new URLSearchParams(text).get('token') ?? '';
}

function redirect(res: ServerResponse, location: string): void {
  res.writeHead(303, { location, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' });
  res.end();
}

/** Serves /login and /logout; false for any other path. */
export async function loginRoutes(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  auth: ConsoleAuth,
): Promise<boolean> {
  if (path !== '/login' && path !== '/logout') return false;
  if (auth.mode === 'none') {
    redirect(res, '/');
    return true;
  }
  if (path === '/logout') {
    auth.signOut(res);
    redirect(res, '/login');
    return true;
  }
  // Behind a TLS-terminating proxy the cookie must be Secure; a forged header only withholds the cookie.
  const secure = req.headers['x-forwarded-proto'] === 'https';
  let presented: string | undefined;
  if (req.method === 'POST') {
    req.setEncoding('utf8');
    presented = sameOrigin(req) ? await readFormToken(req) : '';
  } else {
    presented = new URL(req.url ?? '/', 'http://console.invalid').searchParams.get('token') ?? undefined;
  }
  if (presented === undefined) {
    sendSignInPage(res, auth.mode, undefined, 200);
    return true;
  }
  if (auth.signIn(res, presented, secure)) {
    // A redirect also takes the token out of the address bar and the history.
    redirect(res, '/');
    return true;
  }
  sendSignInPage(res, auth.mode, 'That token is not valid (it may have been changed). Ask the operator.');
  return true;
}
