import { describe, expect, it } from 'vitest';
import { createSlackAdapter } from '../../../adapters/slack/index.ts';
import { loadConfig } from '../../../src/config.ts';
import { silentLogger } from '../../../src/log.ts';
import { createCoreDouble } from './core-double.ts';
import { PNG, TOKEN, useAdapterSuite } from './harness.ts';

/** Outbound: posts, edits, reactions, preview upload, 429s, downloads; startup errors. */

const s = useAdapterSuite();

describe('slack adapter: outbound', () => {
  const thread = { channelId: 'C5', threadId: '1700000500.000100' };

  it('posts in the thread, updates in place, reacts, and uploads the preview without the token', async () => {
    const ref = await s.adapter.post(thread, {
      kind: 'status',
      jobId: 'j',
      state: 'queued',
      position: 3,
      etaSec: 40,
    });
    await s.adapter.update(ref, { kind: 'status', jobId: 'j', state: 'reading' });
    await s.adapter.react!(thread, thread.threadId, 'received');
    await s.adapter.react!(thread, thread.threadId, 'received');
    await s.adapter.uploadPreview!(thread, PNG, 'De-identified preview — not for diagnostic use');
    const post = s.fake.callsTo('chat.postMessage')[0]!;
    expect(post.args).toMatchObject({ channel: 'C5', thread_ts: thread.threadId });
    expect(post.args.text).toContain('Queued #3 · about 40 s');
    expect(s.fake.callsTo('chat.update')[0]!.args).toMatchObject({ ts: ref.messageId, text: '🔎 Reading…' });
    expect(s.fake.callsTo('reactions.add')[0]!.args).toMatchObject({
      name: 'eyes',
      timestamp: thread.threadId,
    });
    const complete = s.fake.callsTo('files.completeUploadExternal')[0]!;
    expect(complete.args).toMatchObject({ channel_id: 'C5', thread_ts: thread.threadId });
    expect(complete.args.files[0].title).toMatch(/not for diagnostic use/i);
    const upload = s.fake.uploads.at(-1)!;
    expect(upload.bytes.equals(PNG)).toBe(true);
    expect(upload.authorization).toBeUndefined();
  });

  it('delivers a post that Slack first answers with 429, after Retry-After', async () => {
    s.fake.rateLimitOnce('chat.postMessage', 1);
    const started = Date.now();
    const ref = await s.adapter.post(thread, { kind: 'error', code: 'X', text: 'after a rate limit' });
    const attempts = s.fake.callsTo('chat.postMessage');
    expect(attempts).toHaveLength(2);
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(950);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(ref.messageId).toMatch(/^\d+\.\d+$/);
  });

  it('downloads a file with the token, and maps a sign-in page to the files:read hint', async () => {
    const file = s.fake.addFile(PNG);
    const bytes = await s.adapter.download(
      { platform: 'slack', fileId: file.id, url: file.url_private_download, name: file.name },
      AbortSignal.timeout(5000),
    );
    expect(bytes.equals(PNG)).toBe(true);
    const missing = {
      platform: 'slack' as const,
      fileId: 'F404',
      url: `${s.fake.origin}/files-pri/T0FAKE-F404/x.png`,
      name: 'x.png',
    };
    await expect(s.adapter.download(missing, AbortSignal.timeout(5000))).rejects.toMatchObject({
      code: 'INPUT_HTML',
    });
  });
});

describe('slack adapter: startup', () => {
  it('says the token was rejected when auth.test answers invalid_auth', async () => {
    const bad = createSlackAdapter(s.configFor({ SLACK_BOT_TOKEN: 'xoxb-wrong' }), {
      logger: silentLogger,
      host: '127.0.0.1',
      webRetry: { retries: 0 },
    });
    await expect(bad.start(createCoreDouble())).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('says Slack is unreachable when nothing answers at SLACK_API_URL', async () => {
    const unreachable = createSlackAdapter(s.configFor({ SLACK_API_URL: 'http://127.0.0.1:9/api/' }), {
      logger: silentLogger,
      host: '127.0.0.1',
      webRetry: { retries: 0 },
    });
    await expect(unreachable.start(createCoreDouble())).rejects.toMatchObject({ code: 'CHAT_API_FAILED' });
  });

  it('reports its HTTP listener URL once started', () => {
    expect(s.adapter.url).toBe(`http://127.0.0.1:${s.adapter.httpAddress()!.port}/slack/events`);
  });

  it('refuses to build without the credentials its mode needs', () => {
    expect(() =>
      createSlackAdapter(loadConfig({ SLACK_BOT_TOKEN: TOKEN }), { logger: silentLogger }),
    ).toThrow(/SLACK_APP_TOKEN/);
    expect(() =>
      createSlackAdapter(loadConfig({ SLACK_BOT_TOKEN: TOKEN, SLACK_MODE: 'http' }), {
        logger: silentLogger,
      }),
    ).toThrow(/SLACK_SIGNING_SECRET/);
  });
});
