import type { EngineEndpoint } from './openai/index.ts';

/**
 * Several model servers (one per GPU box) from ENGINE_URLS: comma-separated base URLs, each of which may
 * carry its own model and slot count in the fragment, e.g.
 * `http://gpu-a:8000/v1#concurrency=8,http://gpu-b:8000/v1#model=Qwen/Qwen3-VL-8B-Instruct&concurrency=4`.
 * The fragment is never sent to the server (RFC 3986 §3.5), so it is a safe place for per-endpoint options.
 * Without ENGINE_URLS the one ENGINE_URL / ENGINE_MODEL / ENGINE_CONCURRENCY endpoint is used.
 */
export interface EndpointDefaults {
  url: string;
  model: string;
  concurrency: number;
}

/** An endpoint entry that cannot be used, with the reason (for CONFIG_INVALID). */
export class EndpointSyntaxError extends Error {}

const MAX_CONCURRENCY = 256;

export function parseEndpointList(list: string, defaults: EndpointDefaults): EngineEndpoint[] {
  const items = list
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  if (items.length === 0) return [{ ...defaults }];
  const endpoints = items.map((item, index) => parseEndpoint(item, index, defaults));
  const seen = new Set<string>();
  for (const endpoint of endpoints) {
    if (seen.has(endpoint.url)) {
      throw new EndpointSyntaxError(`${endpointLabel(endpoint.url)} is listed twice`);
    }
    seen.add(endpoint.url);
  }
  return endpoints;
}

function parseEndpoint(item: string, index: number, defaults: EndpointDefaults): EngineEndpoint {
  let url: URL;
  try {
    url = new URL(item);
  } catch {
    throw new EndpointSyntaxError(`entry ${index + 1} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new EndpointSyntaxError(`entry ${index + 1} must be an http(s) URL`);
  }
  const options = new URLSearchParams(url.hash.replace(/^#/, ''));
  for (const key of options.keys()) {
    if (key !== 'model' && key !== 'concurrency') {
      throw new EndpointSyntaxError(
        `entry ${index + 1} has an unknown option "${key}" (use #model=…&concurrency=N)`,
      );
    }
  }
  const concurrencyText = options.get('concurrency');
  const concurrency = concurrencyText === null ? defaults.concurrency : Number(concurrencyText);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > MAX_CONCURRENCY) {
    throw new EndpointSyntaxError(
      `entry ${index + 1}: concurrency must be a whole number 1–${MAX_CONCURRENCY}`,
    );
  }
  const model = options.get('model') ?? defaults.model;
  if (model.trim() === '') throw new EndpointSyntaxError(`entry ${index + 1}: model is empty`);
  url.hash = '';
  return { url: url.toString().replace(/\/+$/, ''), model, concurrency };
}

/**
 * How an endpoint is named in logs, metrics and doctor: scheme, host, port and path only. A URL may carry
 * credentials (`https://user:secret@gpu-b/v1`) or a token in its query; neither may reach a log line.
 */
export function endpointLabel(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname.replace(/\/+$/, '')}`;
  } catch {
    return 'invalid-url';
  }
}

/**
 * Split credentials out of an endpoint URL: fetch refuses URLs with userinfo (WHATWG Fetch, "Request
 * constructor" step 5), so they travel as an HTTP Basic Authorization header instead (RFC 7617).
 */
export function endpointAuth(url: string): { url: string; authorization?: string } {
  const parsed = new URL(url);
  if (parsed.username === '' && parsed.password === '') return { url };
  const user = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  parsed.username = '';
  parsed.password = '';
  const authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  return { url: parsed.toString().replace(/\/+$/, ''), authorization };
}
