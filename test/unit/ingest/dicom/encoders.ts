/**
 * Real encoders from the same cornerstone WASM packages (their non-decode builds), used by tests to
 * make compressed frames from known pixels so decoding can be checked value for value.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

interface FrameInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
  isSigned: boolean;
  isUsingColorTransform?: boolean;
}
interface Encoder {
  getDecodedBuffer(info: FrameInfo): Uint8Array;
  getEncodedBuffer(): Uint8Array;
  encode(): void;
  setQuality?(lossless: boolean, quality: number): void;
  delete?(): void;
}

async function encodeWith(
  specifier: string,
  cls: string,
  raw: Uint8Array,
  info: FrameInfo,
): Promise<Uint8Array> {
  const factory = require(specifier) as (o: object) => Promise<Record<string, new () => Encoder>>;
  const wasm = await factory({ print: () => {}, printErr: () => {} });
  const encoder = new wasm[cls]!();
  encoder.getDecodedBuffer(info).set(raw);
  encoder.encode();
  const out = encoder.getEncodedBuffer().slice();
  encoder.delete?.();
  return out;
}

const info = (
  width: number,
  height: number,
  bits: number,
  components: number,
  signed = false,
): FrameInfo => ({
  width,
  height,
  bitsPerSample: bits,
  componentCount: components,
  isSigned: signed,
  isUsingColorTransform: false,
});

export const encodeJpegLs = (raw: Uint8Array, w: number, h: number, bits: number, c = 1) =>
  encodeWith('@cornerstonejs/codec-charls/wasmjs', 'JpegLSEncoder', raw, info(w, h, bits, c));
export const encodeJ2k = (raw: Uint8Array, w: number, h: number, bits: number, c = 1, signed = false) =>
  encodeWith('@cornerstonejs/codec-openjpeg/wasmjs', 'J2KEncoder', raw, info(w, h, bits, c, signed));
/** RGB with the reversible component transform (ISO 15444-1 G.2), i.e. DICOM YBR_RCT. */
export const encodeJ2kRgb = (raw: Uint8Array, w: number, h: number) =>
  encodeWith('@cornerstonejs/codec-openjpeg/wasmjs', 'J2KEncoder', raw, {
    ...info(w, h, 8, 3),
    isUsingColorTransform: true,
  });
export const encodeHtj2k = (raw: Uint8Array, w: number, h: number, bits: number, c = 1, signed = false) =>
  encodeWith('@cornerstonejs/codec-openjph/wasmjs', 'HTJ2KEncoder', raw, info(w, h, bits, c, signed));
export const encodeJpegBaseline = (raw: Uint8Array, w: number, h: number, c = 1) =>
  encodeWith('@cornerstonejs/codec-libjpeg-turbo-8bit/wasmjs', 'JPEGEncoder', raw, info(w, h, 8, c));

/** PackBits as DICOM RLE uses it (PS3.5 G.3.1): literal runs only, which every decoder must accept. */
export function rleEncode(planes: Uint8Array[]): Uint8Array {
  const segments = planes.map((plane) => {
    const out: number[] = [];
    for (let i = 0; i < plane.length; ) {
      // Repeat runs of 3+ identical bytes, literal runs otherwise (max 128 each).
      let run = 1;
      while (i + run < plane.length && run < 128 && plane[i + run] === plane[i]) run++;
      if (run >= 3) {
        out.push((1 - run) & 0xff, plane[i]!);
        i += run;
        continue;
      }
      const start = i;
      while (i < plane.length && i - start < 128) {
        if (i + 2 < plane.length && plane[i] === plane[i + 1] && plane[i] === plane[i + 2]) break;
        i++;
      }
      out.push(i - start - 1, ...plane.subarray(start, i));
    }
    if (out.length % 2) out.push(0x80);
    return Uint8Array.from(out);
  });
  const header = new Uint8Array(64);
  const dv = new DataView(header.buffer);
  dv.setUint32(0, segments.length, true);
  let offset = 64;
  segments.forEach((s, i) => {
    dv.setUint32(4 + i * 4, offset, true);
    offset += s.length;
  });
  const out = new Uint8Array(offset);
  out.set(header);
  let o = 64;
  for (const s of segments) {
    out.set(s, o);
    o += s.length;
  }
  return out;
}
