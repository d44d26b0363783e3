import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EntraFake, startEntraFake } from '../../fakes/entra.ts';
import { makeLoopbackCert, type TestCert } from '../../fakes/tls-cert.ts';
import { APP_ID, APP_PASSWORD, TENANT } from './channel.ts';

/**
 * `quickread doctor` with Teams on, in a child process trusting the loopback Entra's certificate
 * (NODE_EXTRA_CA_CERTS): the client-credentials grant succeeds or is refused, and TEAMS_PORT is checked.
 */
const root = fileURLToPath(new URL('../../..', import.meta.url));
const run = promisify(execFile);

let cert: TestCert;
let entra: EntraFake;
let dataDir: string;
let held: Server;

async function doctor(env: Record<string, string>): Promise<string> {
  const result = await run(
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      "import('./src/cli.ts').then(async (m) => { process.exitCode = await m.runCli(['doctor']); })",
    ],
    {
      cwd: root,
      env: {
        ...process.env,
        NODE_EXTRA_CA_CERTS: cert.certFile,
        DATA_DIR: dataDir,
        ENGINE_URL: 'http://127.0.0.1:9/v1',
        TEAMS_APP_ID: APP_ID,
        TEAMS_TENANT_ID: TENANT,
        TEAMS_AUTHORITY: entra.url,
        ...env,
      },
    },
  ).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
  return result.stdout;
}

beforeAll(async () => {
  cert = makeLoopbackCert();
  entra = await startEntraFake(cert, { clientId: APP_ID, clientSecret: APP_PASSWORD });
  dataDir = await mkdtemp(join(tmpdir(), 'qr-teams-doctor-'));
  held = createServer().listen(0, '127.0.0.1');
  await once(held, 'listening');
});

afterAll(async () => {
  await new Promise((resolve) => held?.close(resolve));
  await entra?.close();
  cert?.remove();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('quickread doctor with Teams on', () => {
  it('reports a token fetched and a free port', async () => {
    const out = await doctor({ TEAMS_APP_PASSWORD: APP_PASSWORD, TEAMS_PORT: '0' });
    expect(out).toContain('✓ teams: the app registration gets a Bot Connector token');
    expect(out).toMatch(/✓ teams port: port \d+ is free/);
    expect(entra.tokenRequests.at(-1)).toEqual({
      tenant: TENANT,
      clientId: APP_ID,
      scope: 'https://api.botframework.com/.default',
    });
  });

  it('names the refusal and the fix for a wrong secret and a taken port, without printing the secret', async () => {
    const port = String((held.address() as { port: number }).port);
    const out = await doctor({ TEAMS_APP_PASSWORD: 'wrong-secret-123', TEAMS_PORT: port });
    expect(out).toContain('✗ teams: Entra refused the token request: HTTP 401 (invalid_client)');
    expect(out).toContain('fix: Check TEAMS_APP_ID, TEAMS_APP_PASSWORD');
    expect(out).toContain(`✗ teams port: cannot listen on ${port} (EADDRINUSE)`);
    expect(out).not.toContain('wrong-secret-123');
  });
});
