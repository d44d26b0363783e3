/**
 * Host allow-lists (TEAMS_SERVICE_HOSTS: where the bot token may go; TEAMS_FILE_HOSTS: where
 * credential-free downloads may go). An entry is an exact host (`smba.trafficmanager.net`,
 * `127.0.0.1:8443`) or `*.` plus a domain, which matches its subdomains only. Only https URLs ever
 * match: a bearer token over plain http would be readable on the wire.
 */
export function onHostList(url: string, allowList: readonly string[]): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.protocol !== 'https:' || parsed.username || parsed.password) return false;
  const host = parsed.host.toLowerCase(); // host includes a non-default port
  return allowList.some((entry) => {
    const wanted = entry.toLowerCase();
    if (wanted.startsWith('*.')) return host.endsWith(wanted.slice(1)) && host.length > wanted.length - 1;
    return host === wanted;
  });
}

/** The origin of a URL, or undefined when it does not parse. */
export function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}
