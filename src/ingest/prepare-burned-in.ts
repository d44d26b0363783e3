import { createHash } from 'node:crypto';
import type { PreparedImage } from '../core/types.ts';
import { AppError } from '../errors.ts';
import { type BurnedInTextMode, scanBurnedInText, scanDepth, shouldScanForText } from './ocr/index.ts';

export type { BurnedInTextMode } from './ocr/index.ts';

/**
 * THE burned-in text step (issue #9): the single place the pipeline hands a fitted PNG to OCR, after
 * fitting so that the scan sees exactly what the model and the preview will see. When to scan is the
 * OCR module's rules (raster and flagged DICOM always; other DICOM unless the mode is `flag`; CT and
 * MR slices with the fast pass first, see scanDepth).
 * `redact` returns the blacked-out PNG, `flag` keeps the pixels and reports, `refuse` throws
 * BURNED_IN_TEXT. The recognised text itself never leaves the OCR worker.
 */
export async function scanForBurnedInText(
  image: PreparedImage,
  mode: BurnedInTextMode,
): Promise<PreparedImage> {
  const scan = shouldScanForText({
    kind: image.source.kind,
    burnedInAnnotation: image.deid.burnedInAnnotation,
    mode,
  });
  if (!scan) return image;
  const depth = scanDepth({
    kind: image.source.kind,
    modality: image.meta.modality,
    burnedInAnnotation: image.deid.burnedInAnnotation,
  });
  const result = await scanBurnedInText(image.png, { mode, depth });
  if (mode === 'refuse' && result.found) {
    throw new AppError('BURNED_IN_TEXT', 'text found in pixels (refuse mode)', {
      details: { regions: result.report.regions },
    });
  }
  const png = mode === 'redact' ? result.png : image.png;
  return {
    ...image,
    png,
    sha256: png === image.png ? image.sha256 : createHash('sha256').update(png).digest('hex'),
    deid: { ...image.deid, burnedInText: result.report },
  };
}
