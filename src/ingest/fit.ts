import { AppError } from '../errors.ts';

/**
 * The pixel budget of Qwen3-VL: the vision encoder cuts 16-px patches and merges them 2×2, so one
 * visual token covers 32×32 px and both sides must be multiples of 32 (Qwen's `smart_resize`
 * uses factor = patch_size · merge_size = 32 and refuses aspect ratios over 200).
 */
export const TOKEN_PX = 32;
export const MAX_ASPECT = 200;

/** Visual tokens for an image of this size; a side that is not a multiple of 32 counts as the model's processor rounds it. */
export function tokensFor(width: number, height: number): number {
  const cells = (side: number) => Math.max(1, Math.round(side / TOKEN_PX));
  return cells(width) * cells(height);
}

export function checkAspect(width: number, height: number): void {
  const ratio = Math.max(width, height) / Math.max(1, Math.min(width, height));
  if (ratio > MAX_ASPECT) {
    throw new AppError('INPUT_ASPECT', `aspect ratio ${ratio.toFixed(0)}:1 over ${MAX_ASPECT}:1`, {
      details: { width, height },
    });
  }
}

/**
 * Target size: longest side ≤ maxSide, never upscaled, both sides floored to a multiple of 32 (flooring
 * keeps the "never larger than the source" promise; a side under 32 px becomes the one-token minimum).
 * 'native' keeps the size exactly and only reports what it will cost.
 */
export function fitDimensions(
  width: number,
  height: number,
  maxSide: number | 'native',
): { width: number; height: number; tokens: number } {
  if (!(width > 0 && height > 0)) {
    throw new AppError('INPUT_CORRUPT', `image has no pixels (${width}x${height})`);
  }
  checkAspect(width, height);
  if (maxSide === 'native') return { width, height, tokens: tokensFor(width, height) };
  if (!Number.isFinite(maxSide) || maxSide < TOKEN_PX) {
    throw new AppError('USAGE', `maxSide ${maxSide} below ${TOKEN_PX}`, {
      userMessage: `The image size must be at least ${TOKEN_PX} pixels, or "native".`,
    });
  }
  const longest = Math.max(width, height);
  const target = Math.min(maxSide, longest);
  // Scale in integers first so the longest side lands exactly on the budget (no 1023.9999 → 992).
  const scaled = (side: number) => (side === longest ? target : (side * target) / longest);
  const snap = (side: number) => Math.max(TOKEN_PX, Math.floor(scaled(side) / TOKEN_PX) * TOKEN_PX);
  const out = { width: snap(width), height: snap(height) };
  return { ...out, tokens: (out.width / TOKEN_PX) * (out.height / TOKEN_PX) };
}
