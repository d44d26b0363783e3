import { describe, expect, it } from 'vitest';
import { renderPageBanner } from '../../../adapters/console/render.ts';
import { renderPage as renderDiscordPage } from '../../../adapters/discord/render.ts';
import { renderPage as renderSlackPage } from '../../../adapters/slack/render.ts';
import type { PageNotice } from '../../../src/core/reply.ts';

/** Model text that tries to ping, link and inject markup: pages must keep all of it inert. */
const hostile =
  'Pneumothorax <!channel> <@U0EVIL> @everyone <@&999999999999999999> https://evil.example <script>';

const page = (overrides: Partial<PageNotice> = {}): PageNotice => ({
  jobId: 'job-1',
  step: 1,
  place: 'direct',
  urgency: 'critical',
  impression: hostile,
  mentions: [
    { platform: 'slack', kind: 'user', id: 'U0ONCALL' },
    { platform: 'slack', kind: 'group', id: 'S0TEAM' },
    { platform: 'discord', kind: 'user', id: '311111111111111111' },
    { platform: 'console', kind: 'user', id: 'ada' },
  ],
  afterMin: 10,
  link: 'https://team.slack.com/archives/C1/p1',
  ...overrides,
});

describe('critical-result pages as each platform draws them', () => {
  it('Slack: mentions only the configured Slack ids; the impression cannot mention or link', () => {
    const rendered = renderSlackPage(page());
    const all = `${rendered.text} ${JSON.stringify(rendered.blocks)}`;
    expect(rendered.text.startsWith('<@U0ONCALL> <!subteam^S0TEAM> ')).toBe(true);
    expect(all).not.toContain('<!channel>');
    expect(all).not.toContain('<@U0EVIL>');
    expect(all).not.toContain('https://evil.example');
    expect(all).toContain('<https://team.slack.com/archives/C1/p1|Open the thread>');
    expect(all).toContain('"action_id":"qr_not_critical"');
  });

  it('Discord: allowed_mentions lists exactly the configured ids; model text is neutralised', () => {
    const body = renderDiscordPage(page());
    expect(body.content?.startsWith('<@311111111111111111> ')).toBe(true);
    expect(body.allowed_mentions).toEqual({
      parse: [],
      replied_user: false,
      users: ['311111111111111111'],
      roles: [],
    });
    const description = body.embeds?.[0]?.description ?? '';
    expect(description).not.toContain('@everyone');
    expect(description).not.toContain('<@&999999999999999999>');
    expect(description).not.toContain('https://evil.example');
  });

  it('Discord: a thread page carries the headline only (the card is right above)', () => {
    const body = renderDiscordPage(page({ place: 'thread', step: 2 }));
    expect(body.content).toBe('<@311111111111111111> Not acknowledged in 10 min; paged the backup.');
    expect(body.embeds).toEqual([]);
  });

  it('console: a sound-less alert banner naming the console user, everything escaped', () => {
    const html = renderPageBanner(page());
    expect(html).toContain('role="alert"');
    expect(html).toContain('For: ada');
    expect(html).not.toContain('<script>');
    expect(html).not.toMatch(/<audio|\.play\(/);
  });
});
