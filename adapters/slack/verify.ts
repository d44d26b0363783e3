import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Slack request signing, v0 (https://docs.slack.dev/authentication/verifying-requests-from-slack):
 * signature = 'v0=' + hex(HMAC-SHA256(signing secret, 'v0:' + timestamp + ':' + raw body)).
 *
 * Bolt's own check only rejects timestamps older than five minutes; a request stamped in the future
 * passes it. A replay window must be symmetric, so this check rejects both directions, with an
 * injectable clock so tests can move time instead of waiting for it.
 */

export const MAX_SKEW_SEC = 5 * 60;

export type VerifyFailure =
  | 'missing-headers'
  | 'bad-timestamp'
  | 'stale'
  | 'future'
  | 'bad-version'
  | 'mismatch';

export interface VerifyInput {
  signingSecret: string;
  rawBody: Buffer | string;
  timestampHeader: string | undefined;
  signatureHeader: string | undefined;
  nowMs: number;
  maxSkewSec?: number;
}

/** The expected `X-Slack-Signature` for a body at a time. */
export function computeSignature(
  signingSecret: string,
  timestampSec: string | number,
  rawBody: Buffer | string,
) {
  const hmac = createHmac('sha256', signingSecret);
  hmac.update(`v0:${timestampSec}:`);
  hmac.update(rawBody);
  return `v0=${hmac.digest('hex')}`;
}

/** Returns undefined when the request is authentic and fresh, else why not (never the secret). */
export function verifySlackSignature(input: VerifyInput): VerifyFailure | undefined {
  const { timestampHeader, signatureHeader } = input;
  if (!timestampHeader || !signatureHeader || !input.signingSecret) return 'missing-headers';
  if (!/^\d{1,12}$/.test(timestampHeader)) return 'bad-timestamp';
  const skew = Number(timestampHeader) - Math.floor(input.nowMs / 1000);
  const limit = input.maxSkewSec ?? MAX_SKEW_SEC;
  if (skew < -limit) return 'stale';
  if (skew > limit) return 'future';
  if (!signatureHeader.startsWith('v0=')) return 'bad-version';
  const expected = Buffer.from(computeSignature(input.signingSecret, timestampHeader, input.rawBody));
  const given = Buffer.from(signatureHeader);
  // Constant-time compare; lengths differ only for malformed headers, which is not secret.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'mismatch';
  return undefined;
}
