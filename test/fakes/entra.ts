import { createSign, generateKeyPairSync, type KeyObject, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TestCert } from './tls-cert.ts';

/**
 * A loopback Microsoft Entra ID: per tenant, the OpenID configuration
 * (`/{tenant}/v2.0/.well-known/openid-configuration`), the signing keys (`/{tenant}/discovery/v2.0/keys`,
 * where the Agents SDK looks) and the client-credentials token endpoint (`/{tenant}/oauth2/v2.0/token`).
 * Served over https (MSAL refuses http authorities). `sign()` issues RS256 JWTs with its key, as the
 * Bot Connector does for inbound activities.
 */
export interface EntraFake {
  /** The authority, e.g. https://127.0.0.1:PORT */
  url: string;
  kid: string;
  /** Tokens issued to the bot (client credentials), in order. */
  issued: string[];
  tokenRequests: Array<{ tenant: string; clientId: string; scope: string }>;
  sign(claims: Record<string, unknown>, options?: { key?: KeyObject; kid?: string }): string;
  close(): Promise<void>;
}

const b64url = (value: Buffer | string) => Buffer.from(value).toString('base64url');

export function signJwt(claims: Record<string, unknown>, key: KeyObject, kid: string): string {
  const head = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid }));
  const body = b64url(JSON.stringify(claims));
  const signature = createSign('RSA-SHA256').update(`${head}.${body}`).sign(key);
  return `${head}.${body}.${b64url(signature)}`;
}

export async function startEntraFake(
  cert: TestCert,
  app: { clientId: string; clientSecret: string },
): Promise<EntraFake> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = `kid-${randomUUID().slice(0, 8)}`;
  const jwk = publicKey.export({ format: 'jwk' });
  const issued: string[] = [];
  const tokenRequests: EntraFake['tokenRequests'] = [];
  let base = '';
  const server: Server = createServer({ cert: cert.cert, key: cert.key }, (req, res) => {
    const url = new URL(req.url ?? '/', base);
    const [tenant = '', ...rest] = url.pathname.split('/').filter(Boolean);
    const route = rest.join('/');
    const json = (status: number, body: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.method === 'GET' && route === 'v2.0/.well-known/openid-configuration') {
      return json(200, {
        issuer: `${base}/${tenant}/v2.0`,
        authorization_endpoint: `${base}/${tenant}/oauth2/v2.0/authorize`,
        token_endpoint: `${base}/${tenant}/oauth2/v2.0/token`,
        jwks_uri: `${base}/${tenant}/discovery/v2.0/keys`,
        end_session_endpoint: `${base}/${tenant}/oauth2/v2.0/logout`,
        response_types_supported: ['code', 'id_token', 'token'],
        id_token_signing_alg_values_supported: ['RS256'],
      });
    }
    if (req.method === 'GET' && route === 'discovery/v2.0/keys') {
      return json(200, { keys: [{ ...jwk, kid, use: 'sig', alg: 'RS256' }] });
    }
    if (req.method === 'POST' && route === 'oauth2/v2.0/token') {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        const clientId = form.get('client_id') ?? '';
        tokenRequests.push({ tenant, clientId, scope: form.get('scope') ?? '' });
        if (
          form.get('grant_type') !== 'client_credentials' ||
          clientId !== app.clientId ||
          form.get('client_secret') !== app.clientSecret
        ) {
          return json(401, {
            error: 'invalid_client',
            error_description: 'AADSTS7000215: Invalid client secret.',
          });
        }
        const now = Math.floor(Date.now() / 1000);
        const token = signJwt(
          {
            aud: 'https://api.botframework.com',
            iss: `${base}/${tenant}/v2.0`,
            appid: clientId,
            iat: now,
            exp: now + 3600,
          },
          privateKey,
          kid,
        );
        issued.push(token);
        json(200, { token_type: 'Bearer', expires_in: 3600, ext_expires_in: 3600, access_token: token });
      });
      return;
    }
    json(404, { error: 'not_found' });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    kid,
    issued,
    tokenRequests,
    sign: (claims, options = {}) => signJwt(claims, options.key ?? privateKey, options.kid ?? kid),
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
