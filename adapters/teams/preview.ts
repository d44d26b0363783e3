import sharp from 'sharp';

/**
 * Shrink the de-identified preview until its base64 fits the bytes left in Teams' message budget.
 * JPEG at decreasing sides: a CT slice at 384 px is ~15–25 KB as JPEG, several times that as PNG.
 * Returns undefined when even the smallest side does not fit.
 */
const SIDES = [512, 384, 320, 256, 192];

export async function fitPreview(
  png: Buffer,
  budgetBytes: number,
): Promise<{ bytes: Buffer; mime: 'image/jpeg'; width: number; height: number } | undefined> {
  for (const side of SIDES) {
    const { data, info } = await sharp(png)
      .resize({ width: side, height: side, fit: 'inside', withoutEnlargement: true })
      .jpeg({ quality: 70, mozjpeg: true })
      .toBuffer({ resolveWithObject: true });
    if (Math.ceil(data.length / 3) * 4 <= budgetBytes)
      return { bytes: data, mime: 'image/jpeg', width: info.width, height: info.height };
  }
  return undefined;
}
