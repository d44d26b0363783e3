/**
 * Byte stream → dicom-parser DataSet. Handles what is found in the wild (PS3.10 §7): Part 10 with
 * preamble, File Meta without the 128-byte preamble, bare datasets without any File Meta (ACR-NEMA
 * style; the syntax is guessed from the first element), File Meta lacking (0002,0010), deflated
 * datasets (inflated here with a size cap) and big endian. Anything else is refused with a code.
 */
import { inflateRawSync } from 'node:zlib';
import dicomParser, { type DataSet } from 'dicom-parser';
import { AppError } from '../../errors.js';
import { type TransferSyntaxInfo, transferSyntaxInfo } from './syntax.js';

export interface ParsedDicom {
  dataSet: DataSet;
  syntax: TransferSyntaxInfo;
  /** True when the file did not name its transfer syntax and it was guessed. */
  syntaxGuessed: boolean;
}

const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
/**
 * A deflated dataset may not inflate beyond this (zip-bomb guard): the pixel cap's bytes (64 Mi pixels
 * at 16 bits, DEFAULT_MAX_PIXELS in index.ts) — no image quickread decodes needs more. zlib stops at the
 * cap as it goes, so a 2 GiB bomb costs at most this much memory before it is refused.
 */
export const MAX_INFLATED_BYTES = 128 * 1024 * 1024;

const VRS = new Set(
  'AE AS AT CS DA DS DT FL FD IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV'.split(
    ' ',
  ),
);

export function parseDicomBytes(bytes: Uint8Array): ParsedDicom {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (hasDicmPrefix(buf)) return parsePart10(buf);
  refuseKnownNonDicom(buf);
  // File Meta present but no preamble: first element is (0002,xxxx), always explicit LE (PS3.10 §7.1).
  if (buf.length >= 8 && buf.readUInt16LE(0) === 0x0002 && VRS.has(vrAt(buf, 4))) {
    const withPreamble = Buffer.alloc(132 + buf.length);
    withPreamble.write('DICM', 128, 'latin1');
    buf.copy(withPreamble, 132);
    return parsePart10(withPreamble);
  }
  const guess = guessBareSyntax(buf, 0);
  if (!guess) {
    throw new AppError('INPUT_UNSUPPORTED', 'no DICM prefix and no plausible first data element', {
      userMessage:
        'This file is not a DICOM file quickread can read: it has no DICOM header and does not start with a valid DICOM element.',
    });
  }
  return {
    dataSet: runParser(buf, { TransferSyntaxUID: guess }),
    syntax: transferSyntaxInfo(guess),
    syntaxGuessed: true,
  };
}

function hasDicmPrefix(buf: Buffer): boolean {
  return buf.length >= 132 && buf.toString('latin1', 128, 132) === 'DICM';
}

function parsePart10(buf: Buffer): ParsedDicom {
  let meta: DataSet;
  try {
    meta = dicomParser.readPart10Header(buf);
  } catch (error) {
    throw corrupt('file meta information unreadable', error);
  }
  const tsElement = meta.elements.x00020010;
  if (!tsElement) {
    // File Meta without a Transfer Syntax UID: guess the body's encoding like pydicom does.
    // The group length (0002,0000) says where the body starts; the parser's own stop is fooled by
    // bodies whose first tag is below (0002,FFFF).
    const groupLength = meta.elements.x00020000 ? meta.uint32('x00020000') : undefined;
    const position =
      groupLength !== undefined ? 132 + 12 + groupLength : (meta as DataSet & { position: number }).position;
    if (position > buf.length) throw corrupt('file meta group length beyond the end of the file', 'meta');
    const guess = guessBareSyntax(buf, position) ?? IMPLICIT_LE;
    const body = buf.subarray(position);
    if (body.length === 0) {
      throw new AppError('INPUT_NOT_IMAGE', 'file meta only, no dataset', {
        userMessage: 'This DICOM file holds only its file header and no image.',
      });
    }
    return {
      dataSet: runParser(body, { TransferSyntaxUID: guess }),
      syntax: transferSyntaxInfo(guess),
      syntaxGuessed: true,
    };
  }
  const uid = (meta.string('x00020010') ?? '').replace(/\0/g, '').trim();
  const syntax = transferSyntaxInfo(uid);
  const dataSet = runParser(buf, syntax.deflated ? { inflater: inflateBody } : {});
  return { dataSet, syntax, syntaxGuessed: false };
}

/** Deflated Explicit VR LE (PS3.5 A.5): everything after the File Meta is a raw deflate stream. */
function inflateBody(byteArray: Uint8Array, position: number): Uint8Array {
  const head = Buffer.from(byteArray.buffer, byteArray.byteOffset, position);
  let inflated: Buffer;
  try {
    inflated = inflateRawSync(
      Buffer.from(byteArray.buffer, byteArray.byteOffset + position, byteArray.length - position),
      {
        maxOutputLength: MAX_INFLATED_BYTES,
      },
    );
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new AppError('INPUT_TOO_LARGE', 'deflated dataset inflates beyond the cap', {
        cause: error,
        userMessage: `This deflated DICOM expands to more than ${MAX_INFLATED_BYTES / 1024 / 1024} MB, more than quickread reads.`,
      });
    }
    throw corrupt('deflated dataset does not inflate', error);
  }
  return Buffer.concat([head, inflated]);
}

function runParser(buf: Uint8Array, options: Parameters<typeof dicomParser.parseDicom>[1]): DataSet {
  try {
    return dicomParser.parseDicom(buf, options);
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw corrupt('dicom-parser could not read the dataset', error);
  }
}

function corrupt(message: string, cause: unknown): AppError {
  // dicom-parser throws strings or {exception, dataSet}: keep only a short technical text.
  const inner =
    typeof cause === 'string'
      ? cause
      : cause && typeof cause === 'object' && 'exception' in cause
        ? String((cause as { exception: unknown }).exception)
        : cause instanceof Error
          ? cause.message
          : 'unknown';
  return new AppError('INPUT_CORRUPT', `${message}: ${inner.slice(0, 200)}`, {
    userMessage: 'The DICOM file is truncated or damaged and could not be read.',
  });
}

function vrAt(buf: Buffer, offset: number): string {
  return buf.toString('latin1', offset, offset + 2);
}

/**
 * A dataset without File Meta starts with its lowest-numbered element, in practice group 0008
 * (or 0000/0002/0004/0005). Explicit VR shows two upper-case VR letters after the tag. A stray byte
 * before the first tag (e.g. 0x20) gives an implausible group and the file is refused.
 */
function guessBareSyntax(buf: Buffer, offset: number): string | undefined {
  if (buf.length < offset + 8) return undefined;
  const group = buf.readUInt16LE(offset);
  if (group > 0x0008 || group % 2 === 1) return undefined;
  if (VRS.has(vrAt(buf, offset + 4))) return EXPLICIT_LE;
  const length = buf.readUInt32LE(offset + 4);
  if (length !== 0xffffffff && offset + 8 + length > buf.length) return undefined;
  return IMPLICIT_LE;
}

/** Content that is clearly something else gets a message that says what it is. */
function refuseKnownNonDicom(buf: Buffer): void {
  const head = buf.subarray(0, 16);
  const starts = (...sig: number[]) => sig.every((b, i) => head[i] === b);
  const text = buf.toString('latin1', 0, 64).trimStart();
  let what: string | undefined;
  if (starts(0x89, 0x50, 0x4e, 0x47)) what = 'a PNG image';
  else if (starts(0xff, 0xd8, 0xff)) what = 'a JPEG image';
  else if (starts(0x1f, 0x8b)) what = 'a gzip-compressed file (unzip it and post the DICOM inside)';
  else if (starts(0x50, 0x4b, 0x03, 0x04)) what = 'a ZIP archive (unzip it and post the DICOM files inside)';
  else if (text.startsWith('%PDF')) what = 'a PDF document';
  else if (text.startsWith('{') || text.startsWith('['))
    what = 'a JSON document (DICOM JSON is not a binary DICOM file)';
  else if (text.startsWith('<')) what = 'an HTML or XML document';
  else if (starts(0x49, 0x49, 0x2a, 0x00) || starts(0x4d, 0x4d, 0x00, 0x2a)) what = 'a TIFF image';
  if (what) {
    throw new AppError('INPUT_UNSUPPORTED', `not DICOM: ${what.split(' (')[0]}`, {
      userMessage: `This is not a DICOM file: it is ${what}.`,
      details: { detected: what.split(' (')[0] },
    });
  }
}
