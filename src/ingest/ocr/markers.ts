import type { TextBox } from './detect.ts';

/**
 * Laterality, projection and patient-position markers are kept in the image: removing an "L" or
 * "PORTABLE AP SUPINE" makes a read less safe, and none of them identifies anyone (issue 9).
 * A region is a marker only when every word in it is on this list.
 */
const MARKER_WORDS = new Set([
  // laterality (a lone L or R is the radiographer's lead marker)
  'L',
  'R',
  'LT',
  'RT',
  'LEFT',
  'RIGHT',
  'BILAT',
  'BILATERAL',
  // projection (PS3.3 C.8.11.5 View Position terms and their usual captions)
  'PA',
  'AP',
  'LAT',
  'LATERAL',
  'LL',
  'RL',
  'OBL',
  'OBLIQUE',
  'LAO',
  'RAO',
  'LPO',
  'RPO',
  'AXIAL',
  'TOWNE',
  'CALDWELL',
  'WATERS',
  'SWIMMERS',
  'LORDOTIC',
  'INSP',
  'EXP',
  'INSPIRATION',
  'EXPIRATION',
  // mammography views (PS3.16 CID 4014: CC, MLO, ML, LM, XCCL, XCCM, SIO, FB, LMO, AT), also
  // written fused with the side (LCC, RMLO)
  'CC',
  'MLO',
  'ML',
  'LM',
  'XCCL',
  'XCCM',
  'SIO',
  'FB',
  'LMO',
  'AT',
  'LCC',
  'RCC',
  'LMLO',
  'RMLO',
  // patient position
  'SUPINE',
  'PRONE',
  'ERECT',
  'UPRIGHT',
  'SEMI',
  'SEMIERECT',
  'SITTING',
  'STANDING',
  'DECUB',
  'DECUBITUS',
  'LLD',
  'RLD',
  'PORTABLE',
  'PORT',
  'MOBILE',
  'WB',
  'WEIGHTBEARING',
  // the same captions on German and French equipment (e.g. "liegend" on a corpus bedside CR)
  'LIEGEND',
  'STEHEND',
  'SITZEND',
  'DEBOUT',
  'COUCHE',
  // image orientation letters (PS3.3 C.7.6.1.1.1: A, P, L, R, H, F; S/I on axial images)
  'A',
  'P',
  'H',
  'F',
  'S',
  'I',
]);

const MAX_MARKER_WORDS = 4;
/** Below this recognition confidence the reading is not trusted to prove the region harmless. */
export const MARKER_MIN_CONFIDENCE = 0.8;

export function isPositionMarker(text: string, confidence: number): boolean {
  if (confidence < MARKER_MIN_CONFIDENCE) return false;
  const words = text
    .toUpperCase()
    .split(/[^A-Z0-9]+/)
    .filter(Boolean);
  if (words.length === 0 || words.length > MAX_MARKER_WORDS) return false;
  return words.every((word) => MARKER_WORDS.has(word) || nearLongMarker(word));
}

/**
 * OCR misreads one letter of a longer caption now and then ("liegene" for "liegend"). Words of six
 * letters or more that differ from a marker word by one substituted letter still count. Insertions
 * and deletions do not, and short words must match exactly: "WRIGHT" is a surname, not "RIGHT".
 */
function nearLongMarker(word: string): boolean {
  if (word.length < 6) return false;
  for (const marker of MARKER_WORDS) {
    if (marker.length !== word.length) continue;
    let differences = 0;
    for (let i = 0; i < word.length && differences < 2; i += 1) {
      if (word[i] !== marker[i]) differences += 1;
    }
    if (differences === 1) return true;
  }
  return false;
}

export type RegionKind = 'marker' | 'text' | 'noise';

/** Recognition confidence from which a non-empty reading counts as text (@gutenye/ocr-common keeps ≥ 0.5). */
export const TEXT_MIN_CONFIDENCE = 0.5;
/** One or two characters read from a blob (an eye read as "e.") need a surer reading. */
export const SHORT_TEXT_MIN_CONFIDENCE = 0.8;

/**
 * What a detected box is. The DB detector also fires on anatomy (whole-body blobs on CT, round
 * nodes, an eye in a photograph), which the recogniser reads as nothing or as a doubtful letter;
 * those are noise and leave the pixels alone. A confidently detected box shaped like a line of
 * writing (at least three times as wide as tall, 8 px to a tenth of the image high) is treated as
 * text even when it cannot be read: redaction fails closed for what looks like writing.
 */
export function classifyRegion(input: {
  text: string;
  confidence: number;
  box: TextBox;
  imageHeight: number;
}): RegionKind {
  const { width, height } = lineExtent(input.box);
  if (tooTallForText(input.box, input.imageHeight)) return 'noise';
  if (isPositionMarker(input.text, input.confidence)) return 'marker';
  const characters = input.text.replace(/[^\p{L}\p{N}]/gu, '').length;
  const needed = characters < 3 ? SHORT_TEXT_MIN_CONFIDENCE : TEXT_MIN_CONFIDENCE;
  const readable = characters > 0 && input.confidence >= needed;
  const lineShaped =
    input.box.score >= 0.85 && width >= 3 * height && height >= 8 && height <= input.imageHeight / 10;
  return readable || lineShaped ? 'text' : 'noise';
}

/** Slanted writing is measured along and across its own line, not by its upright bounding box. */
function lineExtent(box: TextBox): { width: number; height: number } {
  return { width: box.slant?.length ?? box.x1 - box.x0, height: box.slant?.thickness ?? box.y1 - box.y0 };
}

/**
 * A box taller than any line of burned-in writing (over 64 px and a quarter of the image): the
 * detector firing on anatomy, the body outline on nearly every CT slice. classifyRegion calls it
 * noise whatever is read in it, so the scan decides it from the geometry alone, without reading it.
 */
export function tooTallForText(box: TextBox, imageHeight: number): boolean {
  return lineExtent(box).height > Math.max(64, imageHeight / 4);
}
