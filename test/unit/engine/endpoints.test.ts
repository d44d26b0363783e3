import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.ts';
import { endpointAuth, endpointLabel } from '../../../src/engine/endpoints.ts';
import { endpointOf, endpointsOf } from '../../../src/engine/index.ts';

describe('endpoints from the configuration', () => {
  it('keeps ENGINE_URL as the one endpoint when ENGINE_URLS is unset', () => {
    const config = loadConfig({ ENGINE_URL: 'http://gpu:8000/v1', ENGINE_CONCURRENCY: '4' });
    expect(endpointsOf(config)).toEqual([
      { url: 'http://gpu:8000/v1', model: 'Qwen/Qwen3-VL-8B-Instruct', concurrency: 4 },
    ]);
  });

  it('reads each endpoint’s model and slots from its fragment, defaulting to ENGINE_MODEL/ENGINE_CONCURRENCY', () => {
    const config = loadConfig({
      ENGINE_URLS: ' http://a:8000/v1/ , http://b:8001/v1#model=org/other&concurrency=8',
      ENGINE_CONCURRENCY: '2',
    });
    expect(endpointsOf(config)).toEqual([
      { url: 'http://a:8000/v1', model: 'Qwen/Qwen3-VL-8B-Instruct', concurrency: 2 },
      { url: 'http://b:8001/v1', model: 'org/other', concurrency: 8 },
    ]);
    expect(endpointOf(config).url).toBe('http://a:8000/v1');
  });

  it('labels an endpoint without its credentials or query', () => {
    expect(endpointLabel('https://user:pw@gpu-b:8443/v1/?token=abc')).toBe('https://gpu-b:8443/v1');
    expect(endpointAuth('https://user:p%40ss@gpu-b/v1')).toEqual({
      url: 'https://gpu-b/v1',
      authorization: `Basic ${Buffer.from('user:p@ss').toString('base64')}`,
    });
    expect(endpointAuth('http://gpu/v1')).toEqual({ url: 'http://gpu/v1' });
  });
});
