/**
 * Preloaded (`node --import`) into a bot process under test: MSAL asks login.microsoftonline.com
 * whether an authority is known before trusting it ("instance discovery",
 * https://learn.microsoft.com/entra/identity-platform/msal-client-application-configuration#authority).
 * Offline tests answer that one question here, pointing at the loopback Entra fake named by the
 * authority itself; every other request to a Microsoft login host fails, so nothing leaves the machine.
 * The product's code path is unchanged: MSAL still performs discovery and then talks to the fake.
 */
const realFetch = globalThis.fetch;
const microsoftLogin = /^(login\.microsoftonline\.(com|us)|login\.windows\.net|login\.botframework\.com)$/i;

globalThis.fetch = async (input, init) => {
  const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
  if (!microsoftLogin.test(url.hostname)) return realFetch(input, init);
  if (url.pathname.endsWith('/discovery/instance')) {
    const authorize = new URL(url.searchParams.get('authorization_endpoint') ?? '');
    const tenant = authorize.pathname.split('/').filter(Boolean)[0];
    return new Response(
      JSON.stringify({
        tenant_discovery_endpoint: `${authorize.origin}/${tenant}/v2.0/.well-known/openid-configuration`,
        'api-version': '1.1',
        metadata: [
          { preferred_network: authorize.host, preferred_cache: authorize.host, aliases: [authorize.host] },
        ],
      }),
      { status: 200, headers: { 'content-type': 'application/json' } },
    );
  }
  throw new TypeError(`offline test: no request to ${url.hostname}`);
};
