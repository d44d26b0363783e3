import { Unzip, type UnzipFile, UnzipInflate, UnzipPassThrough } from 'fflate';
import { AppError } from '../../errors.ts';

/**
 * A zip of DICOM files (a series exported from a PACS viewer), opened in memory with fflate's
 * streaming reader. Every bound is checked while inflating, not from the headers alone (a zip bomb's
 * headers lie): entry count, total inflated bytes, nested archives and unsafe path names. Entry names
 * are never used as paths (nothing is written to disk), never logged and never returned: a name can
 * hold PHI ("SMITH_JOHN/CT/IM001"), so entries come back in archive order, as bytes only.
 */

export interface ZipLimits {
  /** Files in the archive, directories not counted. */
  maxEntries: number;
  /** Sum of the inflated sizes of all files. */
  maxInflatedBytes: number;
  /** Folder depth of an entry name (a/b/c/file is depth 3). */
  maxDepth: number;
}

export const DEFAULT_ZIP_LIMITS: ZipLimits = {
  maxEntries: 1000,
  maxInflatedBytes: 512 * 1024 * 1024,
  maxDepth: 16,
};

/** Compressed bytes handed to the inflater at a time: one push can inflate to ~1032× this (DEFLATE's limit). */
const PUSH_CHUNK = 16 * 1024;

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
const EMPTY_ZIP_MAGIC = [0x50, 0x4b, 0x05, 0x06];

export function isZip(bytes: Uint8Array): boolean {
  const starts = (magic: number[]) => magic.every((byte, i) => bytes[i] === byte);
  return bytes.length >= 4 && (starts(ZIP_MAGIC) || starts(EMPTY_ZIP_MAGIC));
}

/** A name that would escape a folder if it were ever joined to one (zip-slip), or is absolute. */
function unsafeName(name: string): boolean {
  const normal = name.replace(/\\/g, '/');
  return (
    normal.startsWith('/') ||
    /^[a-zA-Z]:/.test(normal) ||
    normal.split('/').some((part) => part === '..') ||
    normal.includes('\0')
  );
}

/** Metadata that archivers add next to the real files (macOS resource forks, Finder files, DICOMDIR). */
function skippedName(name: string): boolean {
  const parts = name.replace(/\\/g, '/').split('/');
  const base = parts.at(-1) ?? '';
  return (
    parts.some((part) => part === '__MACOSX') || base.startsWith('.') || base.toUpperCase() === 'DICOMDIR'
  );
}

function refused(
  code: 'ARCHIVE_TOO_LARGE' | 'ARCHIVE_UNSAFE' | 'ARCHIVE_CORRUPT',
  message: string,
  user: string,
) {
  return new AppError(code, message, { userMessage: user });
}

/**
 * The files of a zip, in archive order, as bytes. Throws ARCHIVE_TOO_LARGE (too many entries, too many
 * inflated bytes, folders too deep), ARCHIVE_UNSAFE (a name escaping its folder, a zip inside the zip,
 * encryption), ARCHIVE_CORRUPT (damaged or an unsupported compression method).
 */
export function unzipFiles(bytes: Uint8Array, limits: ZipLimits = DEFAULT_ZIP_LIMITS): Uint8Array[] {
  const declared = declaredEntries(bytes);
  const files: Array<{ chunks: Uint8Array[]; done: boolean }> = [];
  let inflated = 0;
  let failure: AppError | undefined;
  const fail = (error: AppError) => {
    failure ??= error;
  };

  let seen = 0;
  const unzip = new Unzip((file: UnzipFile) => {
    seen++;
    if (failure) return;
    const name = file.name;
    if (name.endsWith('/') || name.endsWith('\\')) return; // a folder entry holds no data
    if (unsafeName(name)) {
      fail(
        refused(
          'ARCHIVE_UNSAFE',
          'zip entry name escapes its folder',
          'The zip holds a file whose name points outside the archive (../ or an absolute path), so it was not opened. Zip the image files again from their folder.',
        ),
      );
      return;
    }
    if (name.split(/[/\\]/).length - 1 > limits.maxDepth) {
      fail(
        refused(
          'ARCHIVE_TOO_LARGE',
          'zip folders nested too deep',
          `The zip's folders are nested more than ${limits.maxDepth} deep. Zip the image files from one folder.`,
        ),
      );
      return;
    }
    if (skippedName(name)) return;
    if (files.length >= limits.maxEntries) {
      fail(
        refused(
          'ARCHIVE_TOO_LARGE',
          `zip has over ${limits.maxEntries} files`,
          `The zip holds more than ${limits.maxEntries} files. Zip one series, or post the slices you want read.`,
        ),
      );
      return;
    }
    const entry = { chunks: [] as Uint8Array[], done: false };
    files.push(entry);
    file.ondata = (error, chunk, final) => {
      if (failure) return;
      if (error) {
        fail(refused('ARCHIVE_CORRUPT', 'zip entry failed to inflate', damagedMessage));
        return;
      }
      inflated += chunk.length;
      if (inflated > limits.maxInflatedBytes) {
        fail(
          refused(
            'ARCHIVE_TOO_LARGE',
            `zip inflates past ${limits.maxInflatedBytes} bytes`,
            `The zip unpacks to more than ${Math.round(limits.maxInflatedBytes / (1024 * 1024))} MB. Zip one series, or post the slices you want read.`,
          ),
        );
        file.terminate();
        return;
      }
      entry.chunks.push(chunk);
      if (final) entry.done = true;
    };
    try {
      file.start();
    } catch {
      // fflate throws for compression methods it has no decoder for (e.g. 12 bzip2, 14 LZMA, 99 AES).
      fail(
        refused(
          'ARCHIVE_CORRUPT',
          `zip compression method ${file.compression} unsupported`,
          'The zip uses a compression method or encryption quickread cannot open. Zip it again with ordinary (deflate) compression and no password.',
        ),
      );
    }
  });
  unzip.register(UnzipInflate);
  unzip.register(UnzipPassThrough);

  try {
    for (let offset = 0; offset < bytes.length && !failure; offset += PUSH_CHUNK) {
      const end = Math.min(bytes.length, offset + PUSH_CHUNK);
      unzip.push(bytes.subarray(offset, end), end === bytes.length);
    }
  } catch (error) {
    if (!failure) {
      fail(
        new AppError('ARCHIVE_CORRUPT', 'zip stream failed', { cause: error, userMessage: damagedMessage }),
      );
    }
  }
  if (failure) throw failure;
  if (files.some((file) => !file.done) || (declared !== 'zip64' && seen !== declared)) {
    throw refused('ARCHIVE_CORRUPT', 'zip ends inside an entry', damagedMessage);
  }
  const out = files.map((file) => concat(file.chunks));
  if (out.some(isZip)) {
    throw refused(
      'ARCHIVE_UNSAFE',
      'zip inside a zip',
      'The zip holds another zip. Unpack the inner one and zip the image files themselves.',
    );
  }
  return out;
}

/**
 * Entries the End of Central Directory record declares (APPNOTE 4.3.16): a truncated or spliced zip
 * still yields the files before the cut to a streaming reader, so their count is checked against it.
 * 0xFFFF means the real count is in the Zip64 record; the streamed files are then trusted.
 */
function declaredEntries(bytes: Uint8Array): number | 'zip64' {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const earliest = Math.max(0, bytes.length - 22 - 0xffff);
  for (let at = bytes.length - 22; at >= earliest; at--) {
    if (view.getUint32(at, true) === 0x06054b50) {
      const total = view.getUint16(at + 10, true);
      return total === 0xffff ? 'zip64' : total;
    }
  }
  throw refused('ARCHIVE_CORRUPT', 'zip has no end of central directory', damagedMessage);
}

const damagedMessage =
  'The zip is damaged or incomplete and could not be unpacked. Zip the image files again and post the new zip.';

function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
