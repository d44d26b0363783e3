import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BurnedInTextReport, PreparedImage } from '../core/types.ts';
import { AppError } from '../errors.ts';

export type BurnedInTextMode = 'redact' | 'flag' | 'refuse';

/** The OCR module's entry (src/ingest/ocr/index.ts, issue #9); it runs its own worker. */
interface OcrModule {
  scanBurnedInText(
    png: Buffer,
    options: { mode: BurnedInTextMode },
  ): Promise<{ png: Buffer; report: BurnedInTextReport; found: boolean }>;
}

const OCR_ENTRY = new URL('./ocr/index.ts', import.meta.url);

/**
 * When to look for text in the pixels (issue #9): always for images ingest flagged (BurnedInAnnotation
 * YES, US, secondary capture) and for every raster image; for other DICOM unless the mode is `flag`.
 */
export function shouldScanForText(image: PreparedImage, mode: BurnedInTextMode): boolean {
  return image.deid.burnedInAnnotation || image.source.kind !== 'dicom' || mode !== 'flag';
}

let ocr: Promise<OcrModule | undefined> | undefined;

function loadOcr(): Promise<OcrModule | undefined> {
  ocr ??= existsSync(fileURLToPath(OCR_ENTRY))
    ? (import(OCR_ENTRY.href) as Promise<OcrModule>)
    : Promise.resolve(undefined);
  return ocr;
}

/**
 * THE burned-in text step: the single place the pipeline hands a fitted PNG to OCR. Until the OCR
 * module exists it changes nothing and reports nothing (`deid.burnedInText` stays undefined); it never
 * pretends to have scanned. `redact` returns the blacked-out PNG, `refuse` throws BURNED_IN_TEXT.
 */
export async function scanForBurnedInText(
  image: PreparedImage,
  mode: BurnedInTextMode,
): Promise<PreparedImage> {
  if (!shouldScanForText(image, mode)) return image;
  const module = await loadOcr();
  if (!module) return image;
  const result = await module.scanBurnedInText(image.png, { mode });
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
