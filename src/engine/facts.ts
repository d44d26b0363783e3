import type { PreparedImage, SafeImageMeta } from '../core/types.ts';

/**
 * What the prompt may say about an image: only SafeImageMeta (the de-identification allow-list), the
 * window used and the size sent. Everything else is listed as unknown so the model is told not to guess.
 */

export type GuidanceId =
  | 'chest-radiograph'
  | 'ct-chest'
  | 'ct-head'
  | 'ct-abdomen'
  | 'mr'
  | 'us'
  | 'mammography'
  | 'generic';

const has = (text: string | undefined, pattern: RegExp) => text !== undefined && pattern.test(text);

const CHEST = /chest|thorax|lung|pulm|breast?bone/i;
const HEAD = /head|brain|skull|cranium|neuro/i;
const ABDOMEN = /abd|pelvis|liver|kidney|pancrea|bowel|abdomen/i;

/**
 * Modality codes per DICOM PS3.3 C.7.3.1.1.1 (CR, DX, CT, MR, US, MG…) and Body Part Examined
 * (PS3.16 Annex L). PNG/JPEG inputs carry no header: then a word in the question may pick the guidance
 * (the question is only matched, never logged).
 */
export function chooseGuidance(meta: SafeImageMeta, question = ''): GuidanceId {
  const modality = meta.modality?.toUpperCase();
  const body = meta.bodyPart;
  if (modality === 'MG') return 'mammography';
  if (modality === 'US') return 'us';
  if (modality === 'MR') return 'mr';
  if (modality === 'CT') {
    if (has(body, HEAD)) return 'ct-head';
    if (has(body, ABDOMEN)) return 'ct-abdomen';
    if (has(body, CHEST) || body === undefined)
      return has(question, HEAD) ? 'ct-head' : has(question, ABDOMEN) ? 'ct-abdomen' : 'ct-chest';
    return 'generic';
  }
  if (modality === 'CR' || modality === 'DX') {
    return has(body, CHEST) || (body === undefined && has(question, /chest|cxr|胸/i))
      ? 'chest-radiograph'
      : 'generic';
  }
  if (modality !== undefined) return 'generic';
  // No header (a PNG or JPEG): let the question's words choose, conservatively.
  if (/mammo|乳腺/i.test(question)) return 'mammography';
  if (/\bultrasound\b|\bsonograph|超声|B超/i.test(question)) return 'us';
  if (/\bMRI?\b|磁共振/i.test(question)) return 'mr';
  if (/\bCT\b/i.test(question)) {
    if (has(question, HEAD) || /头|脑/.test(question)) return 'ct-head';
    if (has(question, ABDOMEN) || /腹|肝/.test(question)) return 'ct-abdomen';
    return has(question, CHEST) || /胸|肺/.test(question) ? 'ct-chest' : 'generic';
  }
  if (
    /x-?ray|radiograph|\bCXR\b|胸片/i.test(question) &&
    (has(question, CHEST) || /CXR|胸/i.test(question))
  ) {
    return 'chest-radiograph';
  }
  return 'generic';
}

/**
 * Pixel spacing of the image as sent. The header's spacing is for the stored matrix (PS3.3 C.7.6.2.1.1:
 * row spacing first, then column spacing); resizing to the token budget scales it.
 */
export function sentPixelSpacing(image: PreparedImage): [number, number] | undefined {
  const spacing = image.meta.pixelSpacingMm;
  if (!spacing || !(spacing[0] > 0 && spacing[1] > 0)) return undefined;
  const rows = image.source?.rows ?? image.height;
  const columns = image.source?.columns ?? image.width;
  return [(spacing[0] * rows) / image.height, (spacing[1] * columns) / image.width];
}

const round = (value: number, digits = 2) => Number(value.toFixed(digits));

export function knownFacts(image: PreparedImage): string {
  const meta = image.meta;
  const known: string[] = [];
  const unknown: string[] = [];
  const add = (label: string, value: string | undefined) => {
    if (value === undefined || value === '') unknown.push(label);
    else known.push(`- ${label}: ${value}`);
  };
  add('Modality (DICOM code)', meta.modality);
  add('Body part', meta.bodyPart);
  add('View', meta.viewPosition);
  add('Laterality', meta.laterality);
  const spacing = sentPixelSpacing(image);
  if (spacing) {
    known.push(
      `- Pixel spacing of the image you see: ${round(spacing[0], 3)} mm (rows) × ${round(spacing[1], 3)} mm (columns) per pixel; the image is ${image.width}×${image.height} px, so it spans about ${round((image.width * spacing[1]) / 10, 1)} × ${round((image.height * spacing[0]) / 10, 1)} cm. Give sizes in mm from it.`,
    );
  } else {
    unknown.push('pixel spacing');
  }
  add('Slice thickness', meta.sliceThicknessMm === undefined ? undefined : `${meta.sliceThicknessMm} mm`);
  add('Age band', meta.ageBand);
  add('Sex', meta.sex);
  const window = image.window;
  if (window && window.source !== 'none') {
    const name = window.preset ? ` (${window.preset} window)` : '';
    known.push(`- Display window: centre ${round(window.center)}, width ${round(window.width)}${name}`);
  }
  known.push(`- Image sent: ${image.width}×${image.height} px`);
  const lines = [...known];
  if (unknown.length > 0) lines.push(`- Not known: ${unknown.join(', ')}.`);
  if (!spacing)
    lines.push('- Because the pixel spacing is unknown, do not state sizes in mm: set sizeMm to null.');
  return lines.join('\n');
}
