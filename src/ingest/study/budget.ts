import { fitDimensions, TOKEN_PX } from '../fit.ts';

/**
 * One token budget for the whole study (STUDY_MAX_TOKENS): every image gets the same longest side,
 * the largest on the 32-px grid at which the images' visual tokens add up to no more than the budget
 * (two 1024² images with a 1,024-token budget → two 704² images, 484 tokens each). Images smaller than
 * that side keep their size: nothing is upscaled.
 */
export function studySide(
  sizes: ReadonlyArray<{ width: number; height: number }>,
  maxTokens: number,
  maxSide: number,
): number {
  const cost = (side: number) =>
    sizes.reduce((sum, size) => sum + fitDimensions(size.width, size.height, side).tokens, 0);
  let side = Math.max(TOKEN_PX, Math.floor(maxSide / TOKEN_PX) * TOKEN_PX);
  while (side > TOKEN_PX && cost(side) > maxTokens) side -= TOKEN_PX;
  return side;
}
