import type { AppError } from '../errors.ts';

/**
 * Read an HTTP response body while counting bytes, and stop the moment it passes `maxBytes`: a
 * declared Content-Length can lie or be absent, so the cap is enforced on the stream itself. Shared
 * by the chat adapters' downloads. `inspect` sees the first chunk (e.g. to spot a sign-in page early).
 */
export async function readCapped(
  response: Response,
  options: { maxBytes: number; tooLarge: () => AppError; inspect?: (first: Buffer) => void },
): Promise<Buffer> {
  const reader = response.body?.getReader();
  if (!reader) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > options.maxBytes) throw options.tooLarge();
      const chunk = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      chunks.push(chunk);
      if (chunks.length === 1) options.inspect?.(chunk);
    }
  } catch (error) {
    await reader.cancel().catch(() => undefined);
    throw error;
  }
  return Buffer.concat(chunks, total);
}
