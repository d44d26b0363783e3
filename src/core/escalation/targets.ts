/**
 * Who quickread may page, as written in CRITICAL_NOTIFY / CRITICAL_BACKUP / escalation.yaml. These ids
 * come from the operator's configuration, never from model text: they are the only mentions quickread
 * ever renders (issue 19).
 *
 * - `U…` / `W…`: a Slack user; `S…`: a Slack user group (mentioned as `<!subteam^S…>`).
 * - `123456789012345678`: a Discord user (a snowflake); `role:123…`: a Discord role.
 * - `console:<name>`: the console user of that name (a banner, no sound).
 */
export interface PageTarget {
  platform: 'slack' | 'discord' | 'console';
  kind: 'user' | 'group';
  id: string;
}

const forms: Array<{ pattern: RegExp; make: (match: RegExpExecArray) => PageTarget }> = [
  { pattern: /^([UW][A-Z0-9]{2,20})$/, make: (m) => ({ platform: 'slack', kind: 'user', id: m[1]! }) },
  { pattern: /^(S[A-Z0-9]{2,20})$/, make: (m) => ({ platform: 'slack', kind: 'group', id: m[1]! }) },
  { pattern: /^(\d{15,21})$/, make: (m) => ({ platform: 'discord', kind: 'user', id: m[1]! }) },
  { pattern: /^role:(\d{15,21})$/, make: (m) => ({ platform: 'discord', kind: 'group', id: m[1]! }) },
  {
    pattern: /^console:([A-Za-z0-9._-]{1,64})$/,
    make: (m) => ({ platform: 'console', kind: 'user', id: m[1]! }),
  },
];

/** One configured entry as a target, or undefined when it is none of the accepted forms. */
export function parsePageTarget(entry: string): PageTarget | undefined {
  for (const form of forms) {
    const match = form.pattern.exec(entry.trim());
    if (match) return form.make(match);
  }
  return undefined;
}

export const pageTargetForms =
  'Slack U…/W… (user) or S… (user group), Discord <snowflake> (user) or role:<snowflake>, console:<name>';

/** True when every entry of a list is a valid target (config validation). */
export const allPageTargets = (entries: string[]): boolean =>
  entries.every((entry) => parsePageTarget(entry) !== undefined);
