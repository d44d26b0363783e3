/**
 * Shrink an already prepared PNG to a smaller longest side (the engine's out-of-memory ladder). It is
 * never enlarged: a request larger than the PNG returns it re-snapped at its own size. sharp is loaded
 * on first use so that importing the engine stays cheap (the CLI's main thread never decodes); this
 * lives apart from fit.ts, which prepare-encode.ts imports, so the two do not import each other.
 */
export async function fitPng(
  png: Buffer,
  maxSide: number,
): Promise<{ png: Buffer; width: number; height: number; tokens: number }> {
  const { refitPng } = await import('./prepare-encode.ts');
  return refitPng(png, maxSide);
}
