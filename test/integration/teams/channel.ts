import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { EntraFake } from '../../fakes/entra.ts';

/**
 * The Teams channel as the bot sees it: activities POSTed to /api/messages with a Bearer JWT signed by
 * the Entra fake's key (as the Bot Connector signs them), plus the bot process itself.
 */
export const APP_ID = '00000000-0000-0000-0000-00000000a11d';
export const APP_PASSWORD = 'test-secret-value';
export const TENANT = '72f988bf-0000-4000-8000-000000000001';
export const BOT_ID = `28:${APP_ID}`;
const root = fileURLToPath(new URL('../../..', import.meta.url));

export interface BotProcess {
  url: string;
  /** Every line the process printed on stdout so far (the core double's `CORE <json>` records). */
  lines: string[];
  stop(): Promise<void>;
}

export async function startBotProcess(env: Record<string, string>): Promise<BotProcess> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--import',
      './test/fakes/msal-instance-discovery.mjs',
      './test/integration/teams/bot-process.ts',
    ],
    {
      cwd: root,
      env: { ...process.env, ...env },
      // BOT_LOG_LEVEL=debug shows the bot's log while debugging a failure.
      stdio: ['ignore', 'pipe', process.env.BOT_LOG_LEVEL ? 'inherit' : 'pipe'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const lines: string[] = [];
  const port = await new Promise<string>((resolve, reject) => {
    let partial = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      const parts = (partial + chunk.toString()).split('\n');
      partial = parts.pop() ?? '';
      lines.push(...parts);
      const listening = lines.map((line) => /^LISTENING (\d+)$/.exec(line)).find(Boolean);
      if (listening) resolve(listening[1]!);
    });
    child.once('exit', (code) => reject(new Error(`bot process exited (${code}): ${stderr.slice(-2000)}`)));
  });
  return {
    url: `http://127.0.0.1:${port}/api/messages`,
    lines,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface Channel {
  token(overrides?: Record<string, unknown>): string;
  send(activity: Record<string, unknown>, token?: string | null): Promise<{ status: number; body: unknown }>;
  message(options: {
    id: string;
    channel: string;
    root?: string;
    text?: string;
    mention?: boolean;
    attachments?: unknown[];
    personal?: boolean;
  }): Record<string, unknown>;
}

export function createChannel(options: { botUrl: string; entra: EntraFake; serviceUrl: string }): Channel {
  const { entra, serviceUrl } = options;
  const channel: Channel = {
    token(overrides = {}) {
      const now = Math.floor(Date.now() / 1000);
      return entra.sign({
        aud: APP_ID,
        iss: `${entra.url}/${TENANT}/v2.0`,
        tid: TENANT,
        serviceurl: serviceUrl,
        nbf: now - 5,
        iat: now - 5,
        exp: now + 600,
        ...overrides,
      });
    },
    async send(activity, token = channel.token()) {
      const response = await fetch(options.botUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        },
        body: JSON.stringify(activity),
      });
      const text = await response.text();
      return { status: response.status, body: text ? (JSON.parse(text) as unknown) : undefined };
    },
    message({
      id,
      channel: channelId,
      root,
      text = '',
      mention = false,
      attachments = [],
      personal = false,
    }) {
      const conversationId = personal ? channelId : `${channelId};messageid=${root ?? id}`;
      return {
        type: 'message',
        id,
        timestamp: new Date().toISOString(),
        serviceUrl,
        channelId: 'msteams',
        from: { id: '29:user-1', name: 'Dr Test', aadObjectId: 'aad-user-1' },
        recipient: { id: BOT_ID, name: 'quickread' },
        conversation: {
          id: conversationId,
          conversationType: personal ? 'personal' : 'channel',
          tenantId: TENANT,
        },
        text: mention ? `<at>quickread</at> ${text}` : text,
        textFormat: 'plain',
        entities: mention
          ? [{ type: 'mention', text: '<at>quickread</at>', mentioned: { id: BOT_ID, name: 'quickread' } }]
          : [],
        attachments,
        channelData: { tenant: { id: TENANT }, ...(personal ? {} : { channel: { id: channelId } }) },
      };
    },
  };
  return channel;
}
