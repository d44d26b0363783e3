import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { type EntraFake, startEntraFake } from '../../fakes/entra.ts';
import {
  type ConnectorFake,
  type ConnectorRequest,
  type FileHostFake,
  startConnectorFake,
  startFileHost,
} from '../../fakes/teams-connector.ts';
import { makeLoopbackCert, type TestCert } from '../../fakes/tls-cert.ts';
import { APP_ID, APP_PASSWORD, type BotProcess, startBotProcess, TENANT } from './channel.ts';

/**
 * The loopback Microsoft side of the Teams suites: Entra and the Bot Connector over https with a
 * throw-away certificate, another https origin (`elsewhere`) for files, a data folder, and a way to
 * start the bot process against them (NODE_EXTRA_CA_CERTS set to the certificate).
 */
export interface TeamsWorld {
  cert: TestCert;
  entra: EntraFake;
  connector: ConnectorFake;
  elsewhere: FileHostFake;
  dataDir: string;
  png: Buffer;
  startBot(env?: Record<string, string>): Promise<BotProcess>;
  close(): Promise<void>;
}

export async function startTeamsWorld(): Promise<TeamsWorld> {
  const cert = makeLoopbackCert();
  const entra = await startEntraFake(cert, { clientId: APP_ID, clientSecret: APP_PASSWORD });
  const connector = await startConnectorFake(cert, () => entra.issued);
  const png = await sharp({
    create: { width: 256, height: 256, channels: 3, background: { r: 90, g: 90, b: 90 } },
  })
    .png()
    .toBuffer();
  const elsewhere = await startFileHost(cert, png);
  const dataDir = await mkdtemp(join(tmpdir(), 'qr-teams-'));
  return {
    cert,
    entra,
    connector,
    elsewhere,
    dataDir,
    png,
    startBot: (env = {}) =>
      startBotProcess({
        NODE_EXTRA_CA_CERTS: cert.certFile,
        DATA_DIR: dataDir,
        TEAMS_APP_ID: APP_ID,
        TEAMS_APP_PASSWORD: APP_PASSWORD,
        TEAMS_TENANT_ID: TENANT,
        TEAMS_AUTHORITY: entra.url,
        // Both loopback origins are allowed hosts: the token must still go only to the activity's serviceUrl.
        TEAMS_SERVICE_HOSTS: `${new URL(connector.url).host},${new URL(elsewhere.url).host}`,
        TEAMS_FILE_HOSTS: new URL(elsewhere.url).host,
        ...env,
      }),
    async close() {
      await Promise.all([entra.close(), connector.close(), elsewhere.close()]);
      cert.remove();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export async function waitFor<T>(find: () => T | undefined, what: string, timeoutMs = 25_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export const inConversation = (conversation: string) => (request: ConnectorRequest) =>
  request.conversationId === conversation;
export const cardText = (request: ConnectorRequest) => JSON.stringify(request.body?.attachments ?? []);
export const isRead = (request: ConnectorRequest) =>
  request.status === 200 && cardText(request).includes('Impression');
export const hasPreview = (request: ConnectorRequest) => cardText(request).includes('data:image/jpeg;base64');

/** An inline pasted image: served by the connector behind the bot token. */
export function inlineImage(connector: ConnectorFake, bytes: Buffer) {
  const id = connector.addAttachment(bytes);
  return { contentType: 'image/*', contentUrl: `${connector.url}/v3/attachments/${id}/views/original` };
}
