import type { Config } from '../config.ts';
import type { DoctorCheck } from '../engine/doctor-check.ts';

/**
 * Does the model server take a whole study in one request? vLLM refuses more images than its
 * --limit-mm-per-prompt with HTTP 400 "At most N image(s) may be provided in one prompt"
 * (vllm/multimodal/parse.py); nothing on /v1/models says the limit, so the doctor asks: one tiny
 * request with STUDY_MAX_IMAGES 32×32 images and a one-token answer.
 */

/** The vLLM limit that fits a study: STUDY_MAX_IMAGES images, no video. */
export const limitMmPerPrompt = (config: Config) => `'{"image":${config.STUDY_MAX_IMAGES},"video":0}'`;

/** A 32×32 mid-grey PNG: one visual token, the smallest image Qwen3-VL's processor accepts as is. */
async function tinyPng(): Promise<string> {
  const { default: sharp } = await import('sharp');
  const png = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#808080' } })
    .png()
    .toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}

export async function checkStudyImages(
  config: Config,
  deps: { fetch?: typeof fetch; timeoutMs?: number } = {},
): Promise<DoctorCheck> {
  const doFetch = deps.fetch ?? fetch;
  const base = config.ENGINE_URL.replace(/\/+$/, '');
  const count = config.STUDY_MAX_IMAGES;
  const url = await tinyPng();
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (config.ENGINE_API_KEY !== '') headers.authorization = `Bearer ${config.ENGINE_API_KEY}`;
  const body = {
    model: config.ENGINE_MODEL,
    max_tokens: 1,
    temperature: 0,
    messages: [
      {
        role: 'user',
        content: [
          ...Array.from({ length: count }, () => ({ type: 'image_url', image_url: { url } })),
          { type: 'text', text: 'Reply with one word: ok' },
        ],
      },
    ],
  };
  let response: Response;
  try {
    response = await doFetch(`${base}/chat/completions`, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(deps.timeoutMs ?? 30_000),
    });
  } catch {
    return { name: 'study images', ok: false, detail: `no answer to a ${count}-image request at ${base}` };
  }
  if (response.ok) {
    return { name: 'study images', ok: true, detail: `the server takes ${count} images in one request` };
  }
  const text = await response.text().catch(() => '');
  const limit = /At most (\d+) image\(s\) may be provided/i.exec(text);
  if (limit) {
    return {
      name: 'study images',
      ok: false,
      detail: `the server takes at most ${limit[1]} image(s) per request, fewer than STUDY_MAX_IMAGES=${count}; larger studies are read as one montage`,
      fix: `Restart it with --limit-mm-per-prompt ${limitMmPerPrompt(config)}, or set STUDY_MAX_IMAGES=${Math.max(1, Number(limit[1]))}.`,
    };
  }
  return {
    name: 'study images',
    ok: false,
    detail: `a ${count}-image request got HTTP ${response.status}`,
    fix: `Check that the server serves a vision model with --limit-mm-per-prompt ${limitMmPerPrompt(config)}.`,
  };
}
