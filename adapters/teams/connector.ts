import { Activity } from '@microsoft/agents-activity';
import { ConnectorClient, HttpError } from '@microsoft/agents-hosting';
import { AppError } from '../../src/errors.ts';
import type { Logger } from '../../src/log.ts';
import { onHostList } from './hosts.ts';

/**
 * Replies and edits through the Bot Connector REST API (the SDK's ConnectorClient: POST
 * /v3/conversations/{id}/activities/{replyToId}, PUT …/activities/{id}). Each call gets a client for
 * the activity's own serviceUrl, and only when that host is on TEAMS_SERVICE_HOSTS over https: the
 * bearer token goes nowhere else. 429, 412, 502 and 504 are retried with back-off, honouring
 * Retry-After (https://learn.microsoft.com/microsoftteams/platform/bots/how-to/rate-limit); any other
 * failure surfaces as CHAT_API_FAILED with the HTTP status in details (413 = too large for Teams).
 */

export interface ConnectorOptions {
  serviceHosts: readonly string[];
  token(): Promise<string>;
  logger: Logger;
  /** Retries after a retryable status (default 4). */
  attempts?: number;
  /** Back-off base when no Retry-After is given (default 500 ms). */
  baseMs?: number;
  /** Longest single wait (default 20 s). */
  maxWaitMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export interface TeamsConnector {
  /** Post into a conversation, as a reply to `replyToId` when given; returns the new activity id. */
  send(serviceUrl: string, conversationId: string, activity: object, replyToId?: string): Promise<string>;
  update(serviceUrl: string, conversationId: string, activityId: string, activity: object): Promise<void>;
}

const RETRYABLE = new Set([412, 429, 502, 504]);

function retryAfterMs(error: HttpError): number | undefined {
  const value = error.response?.headers?.get?.('retry-after');
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

export function statusOf(error: unknown): number | undefined {
  if (error instanceof HttpError) return error.response?.status;
  if (error instanceof AppError) return (error.details as { status?: number } | undefined)?.status;
  return undefined;
}

export function createConnector(options: ConnectorOptions): TeamsConnector {
  const attempts = options.attempts ?? 4;
  const baseMs = options.baseMs ?? 500;
  const maxWaitMs = options.maxWaitMs ?? 20_000;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));

  async function client(serviceUrl: string): Promise<ConnectorClient> {
    if (!onHostList(serviceUrl, options.serviceHosts))
      throw new AppError('CHAT_API_FAILED', 'teams serviceUrl is not on TEAMS_SERVICE_HOSTS', {
        retryable: false,
        userMessage:
          'This Teams service address is not on TEAMS_SERVICE_HOSTS; ask the administrator to check it.',
      });
    return ConnectorClient.createClientWithToken(serviceUrl, await options.token());
  }

  async function withRetry<T>(what: string, call: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await call();
      } catch (error) {
        const status = statusOf(error);
        if (status !== undefined && RETRYABLE.has(status) && attempt < attempts) {
          const told = error instanceof HttpError ? retryAfterMs(error) : undefined;
          const wait = Math.min(maxWaitMs, told ?? Math.random() * baseMs * 2 ** attempt);
          options.logger.warn({ status, attempt, waitMs: Math.round(wait) }, `teams ${what} retried`);
          await sleep(wait);
          continue;
        }
        if (error instanceof AppError) throw error;
        // No `cause`: the SDK's HttpError carries the activity (model text) and would reach the log.
        throw new AppError('CHAT_API_FAILED', `teams ${what} failed${status ? ` (HTTP ${status})` : ''}`, {
          retryable: status === undefined || status >= 500,
          details: status ? { status } : {},
        });
      }
    }
  }

  return {
    async send(serviceUrl, conversationId, body, replyToId) {
      const activity = Activity.fromObject({ type: 'message', ...body, ...(replyToId ? { replyToId } : {}) });
      const response = await withRetry('post', async () => {
        const connector = await client(serviceUrl);
        return replyToId
          ? connector.replyToActivity(conversationId, replyToId, activity)
          : connector.sendToConversation(conversationId, activity);
      });
      if (!response?.id) throw new AppError('CHAT_API_FAILED', 'teams post returned no activity id');
      return response.id;
    },
    async update(serviceUrl, conversationId, activityId, body) {
      const activity = Activity.fromObject({ type: 'message', id: activityId, ...body });
      await withRetry('update', async () =>
        (await client(serviceUrl)).updateActivity(conversationId, activityId, activity),
      );
    },
  };
}
