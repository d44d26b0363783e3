import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SHORTCUT_CALLBACK_ID, SLASH_COMMAND } from '../../../adapters/slack/listeners.ts';

const manifest = JSON.parse(
  readFileSync(new URL('../../../adapters/slack/manifest.json', import.meta.url), 'utf8'),
);

describe('slack app manifest', () => {
  it('asks for every scope the adapter uses', () => {
    expect(manifest.oauth_config.scopes.bot).toEqual(
      expect.arrayContaining([
        'app_mentions:read',
        'channels:history',
        'groups:history',
        'im:history',
        'mpim:history',
        'chat:write',
        'files:read',
        'files:write',
        'reactions:write',
        'commands',
      ]),
    );
  });

  it('subscribes to the events, shortcut and slash command the listeners handle, over Socket Mode', () => {
    expect(manifest.settings.event_subscriptions.bot_events).toEqual(
      expect.arrayContaining(['app_mention', 'message.channels', 'message.groups', 'message.im']),
    );
    expect(manifest.features.shortcuts).toContainEqual(
      expect.objectContaining({ type: 'message', callback_id: SHORTCUT_CALLBACK_ID, name: 'Read this scan' }),
    );
    expect(manifest.features.slash_commands.map((c: { command: string }) => c.command)).toContain(
      SLASH_COMMAND,
    );
    expect(manifest.settings.socket_mode_enabled).toBe(true);
    expect(manifest.settings.interactivity.is_enabled).toBe(true);
  });
});
