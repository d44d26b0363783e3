/**
 * DICOM RLE Lossless (PS3.5 Annex G): a 64-byte header of up to 15 segment offsets, one PackBits
 * segment per byte plane, most significant byte first, sample by sample (so the result is planar).
 */
import { AppError } from '../../errors.js';
import type { DecodedFrame } from './codecs.js';
import type { ImageInfo } from './image-info.js';

function corrupt(detail: string): AppError {
  return new AppError('INPUT_CORRUPT', `RLE: ${detail}`, {
    userMessage: 'The compressed image inside this DICOM file is damaged and could not be decoded.',
  });
}

export function decodeRle(data: Uint8Array, info: ImageInfo): DecodedFrame {
  const bytesPerSample = info.bitsAllocated / 8;
  if (bytesPerSample !== 1 && bytesPerSample !== 2)
    throw corrupt(`unsupported ${info.bitsAllocated}-bit RLE`);
  if (data.length < 64) throw corrupt('header shorter than 64 bytes');
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const segments = view.getUint32(0, true);
  const expectedSegments = info.samplesPerPixel * bytesPerSample;
  if (segments !== expectedSegments) throw corrupt(`${segments} segments, expected ${expectedSegments}`);
  const pixels = info.rows * info.columns;
  const out = new Uint8Array(pixels * info.samplesPerPixel * bytesPerSample);
  for (let s = 0; s < segments; s++) {
    const start = view.getUint32(4 + 4 * s, true);
    const end = s + 1 < segments ? view.getUint32(8 + 4 * s, true) : data.length;
    if (start < 64 || end > data.length || end < start) throw corrupt('segment offset out of range');
    const sample = Math.floor(s / bytesPerSample);
    // Segment 0 of a sample is its most significant byte; the output is little-endian.
    const byteInSample = bytesPerSample - 1 - (s % bytesPerSample);
    unpackBits(
      data,
      start,
      end,
      out,
      sample * pixels * bytesPerSample + byteInSample,
      bytesPerSample,
      pixels,
    );
  }
  return {
    bytes: out,
    bytesPerSample: bytesPerSample as 1 | 2,
    planar: info.samplesPerPixel > 1,
    rgbConverted: false,
  };
}

/** PackBits: n ≥ 0 copies n+1 literal bytes; −127 ≤ n ≤ −1 repeats the next byte 1−n times. */
function unpackBits(
  src: Uint8Array,
  start: number,
  end: number,
  out: Uint8Array,
  outStart: number,
  stride: number,
  count: number,
): void {
  let i = start;
  let written = 0;
  let o = outStart;
  while (i < end && written < count) {
    const n = (src[i++]! << 24) >> 24;
    if (n >= 0) {
      const run = Math.min(n + 1, count - written, end - i);
      for (let k = 0; k < run; k++, o += stride) out[o] = src[i + k]!;
      i += n + 1;
      written += run;
    } else if (n !== -128) {
      const run = Math.min(1 - n, count - written);
      const value = src[i++]!;
      for (let k = 0; k < run; k++, o += stride) out[o] = value;
      written += run;
    }
  }
  if (written < count) throw corrupt(`segment decodes to ${written} of ${count} bytes`);
}
