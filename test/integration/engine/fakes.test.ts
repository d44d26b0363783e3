import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeOpenAI, startFakeOpenAI } from '../../fakes/openai-server.ts';
import { startFakeVisualQA } from '../../fakes/visualqa-server.ts';

/** The fakes are shared by every helper's integration tests: their protocol shapes are pinned here. */
let fake: FakeOpenAI | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function png(width: number, height: number, noisy: boolean): Promise<string> {
  const pixels = Buffer.alloc(width * height, 40);
  if (noisy) for (let i = 0; i < pixels.length; i += 7) pixels[i] = (i * 31) % 251;
  const bytes = await sharp(pixels, { raw: { width, height, channels: 1 } })
    .png()
    .toBuffer();
  return `data:image/png;base64,${bytes.toString('base64')}`;
}

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary response JSON
const json = (response: Response): Promise<any> => response.json();

function chat(url: string, body: unknown): Promise<Response> {
  return fetch(`${url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

const read = (image: string, model = 'Qwen/Qwen3-VL-8B-Instruct') => ({
  model,
  messages: [
    {
      role: 'user',
      content: [
        { type: 'image_url', image_url: { url: image } },
        { type: 'text', text: 'read' },
      ],
    },
  ],
});

describe('fake OpenAI-compatible server', () => {
  it('lists its model and answers a read with findings JSON derived from the image', async () => {
    fake = await startFakeOpenAI();
    const models = await json(await fetch(`${fake.url}/models`));
    expect(models.data[0].id).toBe('Qwen/Qwen3-VL-8B-Instruct');
    const real = await json(await chat(fake.url, read(await png(64, 64, true))));
    expect(JSON.parse(real.choices[0].message.content).findings).toHaveLength(1);
    expect(real.usage.prompt_tokens).toBeGreaterThan(4);
    const blank = await json(await chat(fake.url, read(await png(64, 64, false))));
    expect(JSON.parse(blank.choices[0].message.content).findings).toHaveLength(0);
    expect(fake.requests.at(-1)?.image).toMatchObject({ width: 64, height: 64, tokens: 4, blank: true });
  });

  it('answers vLLM-shaped errors for an unknown model and 503 with Retry-After', async () => {
    fake = await startFakeOpenAI();
    const wrong = await chat(fake.url, read(await png(32, 32, true), 'other'));
    expect(wrong.status).toBe(404);
    expect(await json(wrong)).toMatchObject({ object: 'error', type: 'NotFoundError', code: 404 });
    await fake.setMode('503-once', 2);
    const busy = await chat(fake.url, read(await png(32, 32, true)));
    expect(busy.status).toBe(503);
    expect(busy.headers.get('retry-after')).toBe('2');
    expect((await chat(fake.url, read(await png(32, 32, true)))).status).toBe(200);
  });

  it('refuses connections while down and serves again on the same port', async () => {
    fake = await startFakeOpenAI();
    await fake.setMode('down');
    await expect(fetch(`${fake.url}/models`)).rejects.toThrow();
    await fake.setMode('ok');
    expect((await fetch(`${fake.url}/models`)).status).toBe(200);
  });

  it('runs out of memory only above the token threshold', async () => {
    fake = await startFakeOpenAI();
    await fake.setMode('oom-above', 16);
    const big = await chat(fake.url, read(await png(256, 256, true)));
    expect(big.status).toBe(500);
    expect((await json(big)).message).toContain('CUDA out of memory');
    expect((await chat(fake.url, read(await png(128, 128, true)))).status).toBe(200);
  });

  it('returns top_logprobs for a yes/no probe', async () => {
    fake = await startFakeOpenAI({ probeYes: 0.8 });
    const body = read(await png(64, 64, true));
    (body.messages[0]!.content[1] as { text: string }).text = 'Is there a pulmonary nodule? Yes or No.';
    const answer = await json(
      await chat(fake.url, { ...body, max_tokens: 1, logprobs: true, top_logprobs: 10 }),
    );
    const top = answer.choices[0].logprobs.content[0].top_logprobs as Array<{
      token: string;
      logprob: number;
    }>;
    const p = (tokens: string[]) =>
      top
        .filter((t) => tokens.includes(t.token.trim().toLowerCase()))
        .reduce((s, t) => s + Math.exp(t.logprob), 0);
    expect(p(['yes', '是']) / (p(['yes', '是']) + p(['no', '否']))).toBeCloseTo(0.8, 5);
  });
});

describe('fake visualqa server', () => {
  it('answers {response, confidence} and records the request', async () => {
    const vqa = await startFakeVisualQA();
    try {
      const res = await fetch(`${vqa.url}/v1/visualqa`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ image: await png(64, 64, true), question: 'q', temperature: 0.3 }),
      });
      const body = await json(res);
      expect(body.confidence).toBeCloseTo(0.82);
      expect(body.response).toContain('Pulmonary nodule');
      expect(vqa.requests[0]?.body.temperature).toBe(0.3);
    } finally {
      await vqa.close();
    }
  });
});
