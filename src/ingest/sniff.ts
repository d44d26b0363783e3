import { AppError } from '../errors.ts';
import { htmlInputError } from './input-source.ts';

/**
 * Content sniffing: what a file is, from its bytes alone. Names and MIME types lie (a PNG called
 * `scan.dcm`, a Slack login page served instead of the file), so they are never consulted.
 */
export type SniffKind = 'dicom' | 'png' | 'jpeg' | 'webp' | 'tiff';

export interface SniffResult {
  kind: SniffKind;
  /** DICOM only: true for a Part 10 file (128-byte preamble + "DICM", PS3.10 §7.1). */
  preamble?: boolean;
}

const startsWith = (bytes: Uint8Array, magic: readonly number[], offset = 0): boolean =>
  bytes.length >= offset + magic.length && magic.every((byte, index) => bytes[offset + index] === byte);

const ascii = (bytes: Uint8Array, start: number, end: number): string =>
  String.fromCharCode(...bytes.subarray(start, Math.min(end, bytes.length)));

const isUpper = (byte: number | undefined): boolean => byte !== undefined && byte >= 0x41 && byte <= 0x5a;

/** The two-letter value representations of PS3.5 §6.2. */
const VRS = new Set(
  'AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV'.split(
    ' ',
  ),
);

/**
 * A dataset written without the Part 10 header (PS3.10 §7.1 allows none on the wire, and old archives
 * store them so): it starts directly with a File Meta (0002,xxxx) or Identifying (0008,xxxx) element.
 * Accept it when the first element reads as explicit VR (a known VR) or as implicit VR with a length
 * that fits in the file, in either byte order.
 */
function looksLikeBareDataset(bytes: Uint8Array): boolean {
  if (bytes.length < 8) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const little of [true, false]) {
    const group = view.getUint16(0, little);
    if (group !== 0x0002 && group !== 0x0008) continue;
    const element = view.getUint16(2, little);
    if (element > 0x1fff) continue;
    if (isUpper(bytes[4]) && isUpper(bytes[5]) && VRS.has(ascii(bytes, 4, 6))) return true;
    const length = view.getUint32(4, little);
    if (little && length <= bytes.length - 8 && length < 0x10000) return true;
  }
  return false;
}

function unsupported(what: string, hint: string): AppError {
  return new AppError('INPUT_UNSUPPORTED', `sniffed ${what}`, {
    userMessage: `This file is ${what}, not an image. ${hint}`,
    details: { sniffed: what },
  });
}

/** Leading text of a file, lower-cased, with a UTF-8 BOM and white space skipped. */
function leadingText(bytes: Uint8Array): string {
  let start = 0;
  if (startsWith(bytes, [0xef, 0xbb, 0xbf])) start = 3;
  while (start < bytes.length && [0x09, 0x0a, 0x0d, 0x20].includes(bytes[start]!)) start += 1;
  return ascii(bytes, start, start + 512).toLowerCase();
}

/** What a file is, by content only; throws a coded AppError for everything quickread cannot read. */
export function sniff(bytes: Uint8Array): SniffResult {
  if (bytes.length === 0) {
    throw new AppError('INPUT_UNSUPPORTED', 'empty input', {
      userMessage: 'The file is empty (0 bytes); try uploading it again.',
      details: { sniffed: 'empty' },
    });
  }
  // Part 10 first: its 128-byte preamble may hold anything, even a TIFF header (PS3.10 §7.5).
  if (startsWith(bytes, [0x44, 0x49, 0x43, 0x4d], 128)) return { kind: 'dicom', preamble: true };
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return { kind: 'png' };
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return { kind: 'jpeg' };
  if (startsWith(bytes, [0x52, 0x49, 0x46, 0x46]) && startsWith(bytes, [0x57, 0x45, 0x42, 0x50], 8)) {
    return { kind: 'webp' };
  }
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a])) {
    return { kind: 'tiff' };
  }
  if (looksLikeBareDataset(bytes)) return { kind: 'dicom', preamble: false };

  if (startsWith(bytes, [0x1f, 0x8b])) {
    throw unsupported('a gzip archive', 'Unpack it and post the image inside.');
  }
  if (startsWith(bytes, [0x50, 0x4b, 0x03, 0x04]) || startsWith(bytes, [0x50, 0x4b, 0x05, 0x06])) {
    throw unsupported(
      'a zip archive',
      'Post the zip itself to chat, the API or `quickread ask` to read it as a study, or unzip it and give the image files here.',
    );
  }
  if (startsWith(bytes, [0x25, 0x50, 0x44, 0x46, 0x2d])) {
    throw unsupported('a PDF document', 'Export the page as PNG or post the original DICOM.');
  }
  if (startsWith(bytes, [0x42, 0x4d]) && bytes.length > 26) {
    throw unsupported('a BMP bitmap', 'Save it as PNG and post it again.');
  }
  if (startsWith(bytes, [0x47, 0x49, 0x46, 0x38])) {
    throw unsupported('a GIF animation or image', 'Save the frame you want read as PNG.');
  }
  if (startsWith(bytes, [0x00, 0x00, 0x00], 0) && ascii(bytes, 4, 8) === 'ftyp') {
    const brand = ascii(bytes, 8, 12);
    if (/^(heic|heix|mif1|hevc|avif)/.test(brand)) {
      throw unsupported('a HEIC/AVIF photo', 'Export it as JPEG or PNG (phone photos default to HEIC).');
    }
    throw unsupported('a video (MP4/QuickTime)', 'Post a still image or the DICOM instead.');
  }
  const text = leadingText(bytes);
  if (text.startsWith('<!doctype html') || text.startsWith('<html') || /^<\?xml[^>]*>\s*<html/.test(text)) {
    // The wording depends on where the bytes came from: prepareImage rewords it (input-source.ts).
    throw htmlInputError(undefined);
  }
  if ((text.startsWith('{') || text.startsWith('[')) && /"vr"\s*:/.test(text)) {
    throw unsupported(
      'a DICOM JSON document (PS3.18 F.2)',
      'Post the binary DICOM file (.dcm) instead of its JSON form.',
    );
  }
  if (text.startsWith('{') || text.startsWith('[')) {
    throw unsupported('a JSON document', 'Post the image file itself.');
  }
  if (text.startsWith('<svg') || (text.startsWith('<?xml') && text.includes('<svg'))) {
    throw unsupported('an SVG drawing', 'Export it as PNG and post it again.');
  }
  throw new AppError('INPUT_UNSUPPORTED', 'unrecognised content', {
    userMessage:
      'This file is not a format quickread reads. Post a DICOM (.dcm), PNG, JPEG, WebP or TIFF image.',
    details: { sniffed: 'unknown' },
  });
}
