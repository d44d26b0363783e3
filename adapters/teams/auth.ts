import type { IncomingHttpHeaders } from 'node:http';
import {
  type AuthConfiguration,
  authorizeJWT,
  MsalTokenProvider,
  type Request,
} from '@microsoft/agents-hosting';
import type { Config } from '../../src/config.ts';
import { AppError } from '../../src/errors.ts';

/**
 * Both directions of Teams authentication, done by the Microsoft 365 Agents SDK:
 * - inbound: every activity's `Authorization: Bearer` JWT is checked by the SDK's `authorizeJWT`
 *   (RS256 signature from the authority's JWKS, expiry, audience = TEAMS_APP_ID, issuer allow-list with
 *   `validateIssuer` on, tenant binding; https://learn.microsoft.com/azure/bot-service/rest-api/
 *   bot-framework-rest-connector-authentication);
 * - outbound: the bot's own token for the Bot Connector, by client credentials through MSAL (cached and
 *   refreshed by the SDK).
 * The settings are built from our Config, never from the SDK's `Connections__…` environment. The
 * adapter runs only with TEAMS_APP_ID set, so the SDK's anonymous mode (no client id, outside
 * production) can never apply.
 */

/** The audience of Bot Connector tokens (the SDK appends `/.default`). */
export const CONNECTOR_SCOPE = 'https://api.botframework.com';

export function teamsAuthConfig(config: Config): AuthConfiguration {
  const authority = config.TEAMS_AUTHORITY.replace(/\/+$/, '');
  const tenant = config.TEAMS_TENANT_ID || 'botframework.com';
  const connection: AuthConfiguration = {
    clientId: config.TEAMS_APP_ID,
    clientSecret: config.TEAMS_APP_PASSWORD,
    tenantId: tenant,
    authorityEndpoint: authority,
    authority,
    validateIssuer: true,
    // Azure Bot Service (channel → bot) and this tenant's Entra issuers, v1 and v2; the SDK adds
    // Microsoft's first-party tenants itself.
    issuers: [
      'https://api.botframework.com',
      `https://sts.windows.net/${tenant}/`,
      `${authority}/${tenant}/v2.0`,
    ],
  };
  return {
    ...connection,
    connections: new Map([['teams', connection]]),
    connectionsMap: [{ serviceUrl: '*', connection: 'teams' }],
  };
}

/** The verified token's claims this adapter reads. */
export interface VerifiedClaims {
  /** Bot Connector tokens name the connector the activity came from. */
  serviceurl?: unknown;
}

/**
 * Verify one request's bearer token. `authorizeJWT` answers a refusal on the response itself and calls
 * `next()` without awaiting anything, so it is wrapped: resolves with the verified claims when `next`
 * ran, undefined (refused) otherwise.
 */
export function createVerifier(
  authConfig: AuthConfiguration,
): (method: string, headers: IncomingHttpHeaders) => Promise<VerifiedClaims | undefined> {
  const middleware = authorizeJWT(authConfig);
  return (method, headers) =>
    new Promise<VerifiedClaims | undefined>((resolve, reject) => {
      const request: Request = { method, headers: headers as Record<string, string | string[] | undefined> };
      const refused = {
        headersSent: false,
        writableEnded: false,
        status: () => refused,
        setHeader: () => refused,
        send: () => {
          resolve(undefined);
          return refused;
        },
        end: () => {
          resolve(undefined);
          return refused;
        },
      };
      middleware(request, refused, () => resolve((request.user ?? {}) as VerifiedClaims)).catch(reject);
    });
}

/** The bot's connector token; failures are CONFIG_INVALID with a fix, never the secret. */
export function createTokenSource(authConfig: AuthConfiguration): () => Promise<string> {
  const provider = new MsalTokenProvider(authConfig);
  return async () => {
    try {
      return await provider.getAccessToken(authConfig, CONNECTOR_SCOPE);
    } catch (error) {
      throw new AppError('CONFIG_INVALID', 'teams token request failed', {
        cause: error,
        retryable: true,
        userMessage:
          'Microsoft Entra did not issue a bot token; check TEAMS_APP_ID, TEAMS_APP_PASSWORD, TEAMS_TENANT_ID and TEAMS_AUTHORITY.',
      });
    }
  };
}
