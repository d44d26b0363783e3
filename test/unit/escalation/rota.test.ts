import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkEscalation } from '../../../src/commands/doctor.ts';
import { loadConfig } from '../../../src/config.ts';
import { loadRotas } from '../../../src/core/escalation/rota.ts';
import type { AppError } from '../../../src/errors.ts';

const discordUser = '123456789012345678';
const discordRole = '876543210987654321';

function configError(env: Record<string, string>): AppError {
  try {
    loadConfig(env);
  } catch (error) {
    return error as AppError;
  }
  throw new Error('loadConfig accepted an invalid rota');
}

describe('critical-results rota', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('defaults to nobody on call, 10 minutes, critical reads only', () => {
    const rotas = loadRotas(loadConfig({}));
    expect(rotas.forChannel('slack', 'C1')).toBeUndefined();
    expect(rotas.afterMin).toBe(10);
    expect(rotas.includeUrgent).toBe(false);
  });

  it('gives each platform its own targets, with per-channel variables winning', () => {
    const config = loadConfig({
      CRITICAL_NOTIFY: `U01ONCALL,${discordUser}`,
      CRITICAL_BACKUP: `S01TEAM,role:${discordRole}`,
      CRITICAL_NOTIFY_C0ICU: 'U02ICU',
      ESCALATE_AFTER_MIN: '5',
      ESCALATE_URGENT: 'true',
    });
    const rotas = loadRotas(config);
    expect(rotas.forChannel('slack', 'C0ER')).toEqual({
      onCall: [{ platform: 'slack', kind: 'user', id: 'U01ONCALL' }],
      backup: [{ platform: 'slack', kind: 'group', id: 'S01TEAM' }],
    });
    expect(rotas.forChannel('discord', '42')).toEqual({
      onCall: [{ platform: 'discord', kind: 'user', id: discordUser }],
      backup: [{ platform: 'discord', kind: 'group', id: discordRole }],
    });
    // The channel's own on-call replaces the default; its backup, unset, stays empty.
    expect(rotas.forChannel('slack', 'C0ICU')).toEqual({
      onCall: [{ platform: 'slack', kind: 'user', id: 'U02ICU' }],
      backup: [],
    });
    expect(rotas.afterMin).toBe(5);
    expect(rotas.includeUrgent).toBe(true);
  });

  it('refuses a malformed id at start, naming the variable and never the value', () => {
    const error = configError({ CRITICAL_NOTIFY: 'U01OK,@everyone', CRITICAL_BACKUP_C0ICU: 'alice' });
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.details.variables).toEqual(['CRITICAL_NOTIFY', 'CRITICAL_BACKUP_C0ICU']);
    expect(error.userMessage).not.toContain('@everyone');
    expect(configError({ ESCALATE_AFTER_MIN: '0' }).details.variables).toEqual(['ESCALATE_AFTER_MIN']);
  });

  it('reads channels from ESCALATION_FILE and refuses a bad one with ESCALATION_FILE named', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qr-rota-'));
    dirs.push(dir);
    const file = join(dir, 'escalation.yaml');
    writeFileSync(
      file,
      [
        'default:',
        '  notify: [U01DEFAULT]',
        'channels:',
        '  C0ICU:',
        '    notify: [U02ICU]',
        '    backup: [S03ICU]',
      ].join('\n'),
    );
    const rotas = loadRotas(loadConfig({ ESCALATION_FILE: file }));
    expect(rotas.forChannel('slack', 'C0ICU')?.backup).toEqual([
      { platform: 'slack', kind: 'group', id: 'S03ICU' },
    ]);
    expect(rotas.forChannel('slack', 'C0ER')?.onCall).toEqual([
      { platform: 'slack', kind: 'user', id: 'U01DEFAULT' },
    ]);
    const lines = checkEscalation(loadConfig({ ESCALATION_FILE: file })).map(
      (check) => `${check.name}: ${check.detail}`,
    );
    expect(lines).toContain(
      'critical results (channel C0ICU): on call slack:U02ICU; backup slack:group S03ICU; escalates after 10 min',
    );

    writeFileSync(file, 'channels:\n  C0ICU:\n    notify: [alice]\n');
    let caught: unknown;
    try {
      loadRotas(loadConfig({ ESCALATION_FILE: file }));
    } catch (error) {
      caught = error;
    }
    expect((caught as AppError).code).toBe('CONFIG_INVALID');
    expect((caught as AppError).details.variables).toEqual(['ESCALATION_FILE']);
    expect(checkEscalation(loadConfig({ ESCALATION_FILE: join(dir, 'missing.yaml') }))[0]?.ok).toBe(false);
  });
});
