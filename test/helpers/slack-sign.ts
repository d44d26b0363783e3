import { createHmac } from 'node:crypto';

/**
 * Signs a request body the way Slack does (v0: HMAC-SHA256 over `v0:{timestamp}:{raw body}`,
 * https://docs.slack.dev/authentication/verifying-requests-from-slack), written independently of the
 * adapter's verify.ts so a test can catch a bug in either.
 */
export function slackSignatureHeaders(
  signingSecret: string,
  rawBody: string,
  timestampSec: number = Math.floor(Date.now() / 1000),
): Record<string, string> {
  const signature = createHmac('sha256', signingSecret).update(`v0:${timestampSec}:${rawBody}`).digest('hex');
  return { 'x-slack-request-timestamp': String(timestampSec), 'x-slack-signature': `v0=${signature}` };
}

export interface DeliveryOptions {
  signingSecret?: string;
  timestampSec?: number;
  retryNum?: number;
  /** false: send no signature headers at all. */
  sign?: boolean;
}

/** POST a body to the adapter's /slack/events, signed unless told otherwise. */
export async function deliverSlack(
  url: string,
  body: { json: unknown } | { form: Record<string, string> },
  options: DeliveryOptions = {},
): Promise<Response> {
  const raw = 'json' in body ? JSON.stringify(body.json) : new URLSearchParams(body.form).toString();
  const headers: Record<string, string> = {
    'content-type': 'json' in body ? 'application/json' : 'application/x-www-form-urlencoded',
  };
  if (options.sign !== false)
    Object.assign(headers, slackSignatureHeaders(options.signingSecret ?? '', raw, options.timestampSec));
  if (options.retryNum !== undefined) {
    headers['x-slack-retry-num'] = String(options.retryNum);
    headers['x-slack-retry-reason'] = 'http_timeout';
  }
  return fetch(url, { method: 'POST', headers, body: raw });
}

let eventCounter = 0;

/** An Events API envelope (https://docs.slack.dev/apis/events-api/#callback-field) around an event. */
export function eventEnvelope(event: Record<string, unknown>, eventId?: string): Record<string, unknown> {
  eventCounter += 1;
  return {
    token: 'deprecated-verification-token',
    team_id: 'T0FAKE',
    api_app_id: 'A0FAKE',
    type: 'event_callback',
    event_id: eventId ?? `Ev${Date.now()}${eventCounter}`,
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [{ team_id: 'T0FAKE', user_id: 'UQUICKREAD', is_bot: true }],
    event,
  };
}

/** An interactivity delivery: Slack posts `payload=<json>` form-encoded. */
export const interactivity = (payload: unknown) => ({ form: { payload: JSON.stringify(payload) } });
