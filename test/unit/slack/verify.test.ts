import { verifySlackRequest } from '@slack/bolt';
import { describe, expect, it } from 'vitest';
import { computeSignature, verifySlackSignature } from '../../../adapters/slack/verify.ts';
import { slackSignatureHeaders } from '../../helpers/slack-sign.ts';

const secret = '8f742231b10e8888abcd99yyyzzz85a5';
const body =
  'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V' +
  '&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=' +
  '&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN' +
  '&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
const nowMs = 1_531_420_618_000;
const ts = String(nowMs / 1000);

describe('slack signature v0', () => {
  it('matches the worked example in Slack’s documentation', () => {
    // https://docs.slack.dev/authentication/verifying-requests-from-slack (example secret, body, timestamp)
    expect(computeSignature(secret, 1531420618, body)).toBe(
      'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
    );
  });

  it('agrees with the test helper and with Bolt’s own verifier', () => {
    const headers = slackSignatureHeaders(secret, body, 1531420618);
    expect(headers['x-slack-signature']).toBe(computeSignature(secret, 1531420618, body));
    expect(() =>
      verifySlackRequest({
        signingSecret: secret,
        body,
        headers: {
          'x-slack-signature': headers['x-slack-signature']!,
          'x-slack-request-timestamp': 1531420618,
        },
        nowMilliseconds: nowMs,
      }),
    ).not.toThrow();
  });

  const valid = { signingSecret: secret, rawBody: body, timestampHeader: ts, nowMs };
  const sig = (t: string, b = body, s = secret) => computeSignature(s, t, b);

  it('accepts an exact signature inside the window', () => {
    expect(verifySlackSignature({ ...valid, signatureHeader: sig(ts) })).toBeUndefined();
    const edge = String(nowMs / 1000 - 300);
    expect(
      verifySlackSignature({ ...valid, timestampHeader: edge, signatureHeader: sig(edge) }),
    ).toBeUndefined();
  });

  it('rejects stale and future timestamps symmetrically, by the injected clock', () => {
    const past = String(nowMs / 1000 - 301);
    const future = String(nowMs / 1000 + 301);
    expect(verifySlackSignature({ ...valid, timestampHeader: past, signatureHeader: sig(past) })).toBe(
      'stale',
    );
    expect(verifySlackSignature({ ...valid, timestampHeader: future, signatureHeader: sig(future) })).toBe(
      'future',
    );
    // Bolt alone lets the future one through — the reason this check exists.
    expect(() =>
      verifySlackRequest({
        signingSecret: secret,
        body,
        headers: { 'x-slack-signature': sig(future), 'x-slack-request-timestamp': Number(future) },
        nowMilliseconds: nowMs,
      }),
    ).not.toThrow();
  });

  it('rejects a tampered body, a wrong secret, a wrong version and missing headers', () => {
    expect(verifySlackSignature({ ...valid, rawBody: `${body}&x=1`, signatureHeader: sig(ts) })).toBe(
      'mismatch',
    );
    expect(verifySlackSignature({ ...valid, signatureHeader: sig(ts, body, 'other') })).toBe('mismatch');
    expect(verifySlackSignature({ ...valid, signatureHeader: sig(ts).replace('v0=', 'v1=') })).toBe(
      'bad-version',
    );
    expect(verifySlackSignature({ ...valid, signatureHeader: undefined })).toBe('missing-headers');
    expect(verifySlackSignature({ ...valid, timestampHeader: 'soon', signatureHeader: sig(ts) })).toBe(
      'bad-timestamp',
    );
    expect(verifySlackSignature({ ...valid, signatureHeader: 'v0=abc' })).toBe('mismatch');
  });
});
