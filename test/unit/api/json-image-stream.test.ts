import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { type JsonImageBodyOptions, readJsonImageBody } from '../../../src/api/json-image-stream.ts';
import { decodeImageField } from '../../../src/api/visualqa-input.ts';
import { AppError } from '../../../src/errors.ts';

/** A request body delivered in the given chunk sizes, as a socket would split it. */
function body(text: string, chunk: number, headers: Record<string, string> = {}): IncomingMessage {
  const pieces: Buffer[] = [];
  const bytes = Buffer.from(text);
  for (let at = 0; at < bytes.byteLength; at += chunk) pieces.push(bytes.subarray(at, at + chunk));
  return Object.assign(Readable.from(pieces), { headers }) as unknown as IncomingMessage;
}

const options = (overrides: Partial<JsonImageBodyOptions> = {}): JsonImageBodyOptions => ({
  imageKeys: { image: 'one' },
  maxImageBytes: 1024 * 1024,
  maxBodyBytes: 2 * 1024 * 1024,
  decodeShort: decodeImageField,
  tooLarge: () => new AppError('INPUT_TOO_LARGE', 'too large'),
  badRequest: (message) => new AppError('USAGE', message, { userMessage: message }),
  ...overrides,
});

// Not compressible and not a multiple of 3, so the last group has padding.
const image = Buffer.from(Array.from({ length: 300_001 }, (_, i) => (i * 7919 + (i >> 5)) % 256));

describe('JSON bodies with streamed base64 images (issue 15)', () => {
  it('decodes a long image exactly, whatever the chunking, in plain, data-URL, URL-safe and wrapped forms', async () => {
    const b64 = image.toString('base64');
    const forms = [
      b64,
      `data:image/png;base64,${b64}`,
      image.toString('base64url'),
      b64.replace(/.{76}/g, '$&\\r\\n'),
    ];
    for (const form of forms) {
      for (const chunk of [1 << 16, 4097, 333]) {
        const json = `{"question":"Any nodule?","temperature":0.2,"extra":{"a":[1,2]},"image":"${form}"}`;
        const { fields, images } = await readJsonImageBody(body(json, chunk), options());
        expect((images.image as Buffer).equals(image)).toBe(true);
        expect(fields).toEqual({ question: 'Any nodule?', temperature: 0.2, extra: {} });
      }
    }
  });

  it('decodes each string of a key declared "many" (the hook for an images array)', async () => {
    const small = Buffer.from('\x89PNG\r\n\x1a\n small one');
    const json = `{"images":["${image.toString('base64')}","${small.toString('base64')}"],"question":"q"}`;
    const { images } = await readJsonImageBody(
      body(json, 5000),
      options({ imageKeys: { image: 'one', images: 'many' } }),
    );
    const list = images.images as Buffer[];
    expect(list).toHaveLength(2);
    expect(list[0]!.equals(image)).toBe(true);
    expect(list[1]!.equals(small)).toBe(true);
  });

  it('refuses an image over the cap with INPUT_TOO_LARGE, and bad base64 or bad JSON with USAGE', async () => {
    const big = `{"image":"${image.toString('base64')}","question":"q"}`;
    await expect(
      readJsonImageBody(body(big, 4096), options({ maxImageBytes: 100_000 })),
    ).rejects.toMatchObject({ code: 'INPUT_TOO_LARGE' });
    await expect(
      readJsonImageBody(
        body(big, 4096, { 'content-length': String(big.length) }),
        options({ maxBodyBytes: 1000 }),
      ),
    ).rejects.toMatchObject({ code: 'INPUT_TOO_LARGE' });
    const b64 = image.toString('base64');
    const paddingInside = `{"image":"${b64.slice(0, 100_000)}==${b64.slice(100_000)}","question":"q"}`;
    await expect(readJsonImageBody(body(paddingInside, 4096), options())).rejects.toMatchObject({
      code: 'USAGE',
      userMessage: expect.stringMatching(/base64/),
    });
    await expect(
      readJsonImageBody(body('{"image": "abc", "question": ', 7), options()),
    ).rejects.toMatchObject({
      code: 'USAGE',
      userMessage: 'The body is not valid JSON.',
    });
    await expect(readJsonImageBody(body('', 7), options())).rejects.toMatchObject({ code: 'USAGE' });
  });
});
