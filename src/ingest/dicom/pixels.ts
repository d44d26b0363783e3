/**
 * Raw frame bytes → stored pixel values (PS3.3 C.7.6.3.1.1): only the low BitsStored bits are the
 * value (bits above may hold overlays or junk), and with Pixel Representation 1 the value is two's
 * complement in BitsStored bits, so it is sign-extended from bit BitsStored−1.
 */
import type { DecodedFrame } from './codecs.js';
import type { ImageInfo } from './image-info.js';

/**
 * Integer stored values: a view of the frame's bytes when no bit needs changing, else the narrowest
 * copy that holds them. Only three array types, on purpose: V8 compiles each pixel loop for the array
 * types it has met, and a loop that has met more than four (Buffer and Int8Array count) goes
 * megamorphic: measured 12× slower per pixel (node 20, a 512² slice). So signed 8-bit values widen to
 * Int16Array and a Buffer's bytes are re-viewed as a plain Uint8Array.
 */
export type IntegerValues = Uint8Array | Uint16Array | Int16Array;
/** Stored values, or modality values computed from them (the general path's integer rescale is Int32Array). */
export type StoredValues = IntegerValues | Int32Array | Float32Array | Float64Array;

export function isIntegerValues(values: StoredValues): values is IntegerValues {
  return values instanceof Uint8Array || values instanceof Uint16Array || values instanceof Int16Array;
}

export interface StoredFrame {
  values: StoredValues;
  /** Samples colour-by-plane (native Planar Configuration 1, RLE, JPEG-LS ILV 0). */
  planar: boolean;
  rgbConverted: boolean;
}

export function storedFromNative(bytes: Uint8Array, info: ImageInfo, bigEndian: boolean): StoredFrame {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const little = !bigEndian;
  if (info.float) {
    const n = bytes.byteLength / (info.bitsAllocated / 8);
    const values = info.bitsAllocated === 64 ? new Float64Array(n) : new Float32Array(n);
    for (let i = 0; i < n; i++) {
      values[i] = info.bitsAllocated === 64 ? view.getFloat64(i * 8, little) : view.getFloat32(i * 4, little);
    }
    return { values, planar: info.planar, rgbConverted: false };
  }
  if (info.photometric === 'YBR_FULL_422' && info.bitsAllocated === 8) {
    return { values: upsampleYbr422(bytes, info), planar: false, rgbConverted: false };
  }
  if (info.bitsAllocated === 32) {
    const n = bytes.byteLength / 4;
    const values = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const raw = view.getUint32(i * 4, little);
      values[i] = maskSign32(raw, info);
    }
    return { values, planar: info.planar, rgbConverted: false };
  }
  const bytesPerSample = info.bitsAllocated === 8 ? 1 : 2;
  return {
    values: maskAndExtend(bytes, bytesPerSample, little, info),
    planar: info.planar,
    rgbConverted: false,
  };
}

export function storedFromDecoded(frame: DecodedFrame, info: ImageInfo): StoredFrame {
  return {
    values: maskAndExtend(frame.bytes, frame.bytesPerSample, true, info),
    planar: frame.planar,
    rgbConverted: frame.rgbConverted,
  };
}

function maskAndExtend(
  bytes: Uint8Array,
  bytesPerSample: number,
  little: boolean,
  info: ImageInfo,
): IntegerValues {
  const n = Math.floor(bytes.byteLength / bytesPerSample);
  const bits = Math.min(info.bitsStored, bytesPerSample * 8);
  const mask = bits >= 32 ? 0xffffffff : (1 << bits) - 1;
  // (v << shift) >> shift sign-extends from bit `bits − 1` in one step.
  const shift = 32 - bits;
  const signed = info.signed;
  if (bytesPerSample === 1) {
    // All eight bits are the unsigned value: the frame's own bytes.
    if (bits === 8 && !signed) return new Uint8Array(bytes.buffer, bytes.byteOffset, n);
    const out = signed ? new Int16Array(n) : new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const v = bytes[i]! & mask;
      out[i] = signed ? (v << shift) >> shift : v;
    }
    return out;
  }
  const out = signed ? new Int16Array(n) : new Uint16Array(n);
  if (little && bytes.byteOffset % 2 === 0) {
    // Aligned little-endian words: read through a typed view instead of byte by byte, and when all
    // sixteen bits are the value, use the view itself (no copy: a CT slice is a quarter-million pixels).
    if (bits === 16) {
      return signed
        ? new Int16Array(bytes.buffer, bytes.byteOffset, n)
        : new Uint16Array(bytes.buffer, bytes.byteOffset, n);
    }
    const words = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
    for (let i = 0; i < n; i++) {
      const v = words[i]! & mask;
      out[i] = signed ? (v << shift) >> shift : v;
    }
    return out;
  }
  for (let i = 0, p = 0; i < n; i++, p += 2) {
    const raw = little ? bytes[p]! | (bytes[p + 1]! << 8) : (bytes[p]! << 8) | bytes[p + 1]!;
    const v = raw & mask;
    out[i] = signed ? (v << shift) >> shift : v;
  }
  return out;
}

function maskSign32(raw: number, info: ImageInfo): number {
  const bits = info.bitsStored;
  if (bits >= 32) return info.signed ? raw | 0 : raw;
  const v = raw & ((1 << bits) - 1);
  const shift = 32 - bits;
  return info.signed ? (v << shift) >> shift : v >>> 0;
}

/** Native YBR_FULL_422 stores Y0 Y1 Cb Cr for each pair of pixels (PS3.3 C.7.6.3.1.2). */
function upsampleYbr422(bytes: Uint8Array, info: ImageInfo): Uint8Array {
  const pixels = info.rows * info.columns;
  const out = new Uint8Array(pixels * 3);
  for (let p = 0, i = 0; p + 1 < pixels + 1 && i + 3 < bytes.length; p += 2, i += 4) {
    const cb = bytes[i + 2]!;
    const cr = bytes[i + 3]!;
    out[p * 3] = bytes[i]!;
    out[p * 3 + 1] = cb;
    out[p * 3 + 2] = cr;
    if (p + 1 < pixels) {
      out[p * 3 + 3] = bytes[i + 1]!;
      out[p * 3 + 4] = cb;
      out[p * 3 + 5] = cr;
    }
  }
  return out;
}
