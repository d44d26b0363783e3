import sharp from 'sharp';

/** What a fake model server can honestly tell about an image it was sent. */
export interface ImageFacts {
  width: number;
  height: number;
  /** Qwen3-VL visual tokens: one per 32×32 patch group (14→16 px patches merged 2×2). */
  tokens: number;
  /** Every pixel has the same value (the blind-image probe sends such an image). */
  blank: boolean;
  /** Mean of the first channel, 0..255 (lets a test derive a probe's answer from the pixels). */
  mean: number;
  bytes: number;
}

/** Accepts a data URL (`data:image/png;base64,…`) or bare base64. */
export function decodeImageRef(ref: string): Buffer {
  const comma = ref.startsWith('data:') ? ref.indexOf(',') : -1;
  return Buffer.from(comma >= 0 ? ref.slice(comma + 1) : ref, 'base64');
}

export async function imageFacts(bytes: Buffer): Promise<ImageFacts> {
  const image = sharp(bytes);
  const meta = await image.metadata();
  const stats = await image.stats();
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  return {
    width,
    height,
    tokens: Math.max(1, Math.ceil(width / 32)) * Math.max(1, Math.ceil(height / 32)),
    blank: stats.channels.every((channel) => channel.min === channel.max),
    mean: stats.channels[0]?.mean ?? 0,
    bytes: bytes.length,
  };
}
