import { createServer } from 'node:net';
import type { Config } from '../config.ts';
import type { DoctorCheck } from '../engine/doctor-check.ts';

/** What doctor.ts passes (declared here, not imported: doctor.ts imports this file). */
interface DoctorDeps {
  fetch?: typeof fetch;
  timeoutMs?: number;
}

/**
 * Teams checks for `quickread doctor`: the app registration can get a Bot Connector token (the
 * client-credentials grant MSAL performs, https://learn.microsoft.com/entra/identity-platform/
 * v2-oauth2-client-creds-grant-flow) and TEAMS_PORT is free to listen on. Never prints the secret.
 */
export async function checkTeams(config: Config, deps: DoctorDeps = {}): Promise<DoctorCheck[]> {
  if (config.TEAMS_APP_ID === '') return [{ name: 'teams', ok: true, detail: 'off (TEAMS_APP_ID not set)' }];
  const missing = (['TEAMS_APP_PASSWORD', 'TEAMS_TENANT_ID'] as const).filter((key) => config[key] === '');
  if (missing.length > 0)
    return [
      {
        name: 'teams',
        ok: false,
        detail: `${missing.join(' and ')} not set`,
        fix: 'Copy the client secret and the directory (tenant) id from the Azure Bot’s app registration.',
      },
    ];
  return [await checkToken(config, deps), await checkPort(config.TEAMS_PORT)];
}

async function checkToken(config: Config, deps: DoctorDeps): Promise<DoctorCheck> {
  const endpoint = `${config.TEAMS_AUTHORITY.replace(/\/+$/, '')}/${config.TEAMS_TENANT_ID}/oauth2/v2.0/token`;
  const fix =
    'Check TEAMS_APP_ID, TEAMS_APP_PASSWORD (not expired) and TEAMS_TENANT_ID against the app registration.';
  try {
    const response = await (deps.fetch ?? fetch)(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: config.TEAMS_APP_ID,
        client_secret: config.TEAMS_APP_PASSWORD,
        scope: 'https://api.botframework.com/.default',
      }),
      signal: AbortSignal.timeout(deps.timeoutMs ?? 5000),
    });
    const body = (await response.json().catch(() => ({}))) as { access_token?: unknown; error?: unknown };
    if (response.ok && typeof body.access_token === 'string')
      return { name: 'teams', ok: true, detail: 'the app registration gets a Bot Connector token' };
    const error = typeof body.error === 'string' ? ` (${body.error})` : '';
    return {
      name: 'teams',
      ok: false,
      detail: `Entra refused the token request: HTTP ${response.status}${error}`,
      fix,
    };
  } catch {
    return {
      name: 'teams',
      ok: false,
      detail: `no answer from ${config.TEAMS_AUTHORITY}`,
      fix: 'Check the network path to TEAMS_AUTHORITY (proxy, firewall).',
    };
  }
}

function checkPort(port: number): Promise<DoctorCheck> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) =>
      resolve({
        name: 'teams port',
        ok: false,
        detail: `cannot listen on ${port} (${error.code ?? 'error'})`,
        fix: 'Stop what holds TEAMS_PORT or choose another port (and point the reverse proxy at it).',
      }),
    );
    probe.listen(port, () => {
      const bound = (probe.address() as { port: number }).port;
      probe.close(() =>
        resolve({ name: 'teams port', ok: true, detail: `port ${bound} is free for /api/messages` }),
      );
    });
  });
}
