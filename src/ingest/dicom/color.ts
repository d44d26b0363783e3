/**
 * Colour images → 8-bit interleaved RGB: planar configuration (C.7.6.3.1.3), YBR_FULL / YBR_FULL_422
 * / YBR_PARTIAL_* to RGB (C.7.6.3.1.2), and PALETTE COLOR through the Red/Green/Blue Palette Color
 * LUTs, including Segmented Palette Color LUTs (C.7.9.2).
 */
import type { DataSet } from 'dicom-parser';
import { AppError } from '../../errors.js';
import type { ImageInfo } from './image-info.js';
import type { StoredFrame } from './pixels.js';

const clamp8 = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

export function colourToRgb8(frame: StoredFrame, info: ImageInfo): Uint8Array {
  const pixels = info.rows * info.columns;
  const v = frame.values;
  const out = new Uint8Array(pixels * 3);
  // Scale deeper samples to 8 bits (rare: 16-bit RGB).
  const shift = Math.max(0, info.bitsStored - 8);
  const div = 2 ** shift;
  const at = frame.planar
    ? (p: number, c: number) => v[c * pixels + p]!
    : (p: number, c: number) => v[p * 3 + c]!;
  const ybr = !frame.rgbConverted && info.photometric.startsWith('YBR_') ? info.photometric : undefined;
  const partial = ybr?.startsWith('YBR_PARTIAL');
  for (let p = 0, o = 0; p < pixels; p++, o += 3) {
    const a = at(p, 0) / div;
    const b = at(p, 1) / div;
    const c = at(p, 2) / div;
    if (!ybr || ybr === 'YBR_RCT' || ybr === 'YBR_ICT') {
      // RCT/ICT reach here only if a J2K decoder did not undo its component transform; pass through.
      out[o] = clamp8(a);
      out[o + 1] = clamp8(b);
      out[o + 2] = clamp8(c);
    } else if (partial) {
      const y = 1.1644 * (a - 16);
      out[o] = clamp8(y + 1.596 * (c - 128));
      out[o + 1] = clamp8(y - 0.3918 * (b - 128) - 0.813 * (c - 128));
      out[o + 2] = clamp8(y + 2.0172 * (b - 128));
    } else {
      out[o] = clamp8(a + 1.402 * (c - 128));
      out[o + 1] = clamp8(a - 0.344136 * (b - 128) - 0.714136 * (c - 128));
      out[o + 2] = clamp8(a + 1.772 * (b - 128));
    }
  }
  return out;
}

interface PaletteLut {
  first: number;
  data: Uint16Array;
  bits: number;
}

function readPalette(ds: DataSet, colour: 0 | 1 | 2, signed: boolean): PaletteLut {
  const hex = (n: number) => n.toString(16).padStart(4, '0');
  const descTag = `x0028${hex(0x1101 + colour)}`;
  const count = ds.uint16(descTag, 0) || 65536;
  let first = ds.uint16(descTag, 1) ?? 0;
  if (signed && first > 32767) first -= 65536;
  const bits = ds.uint16(descTag, 2) ?? 16;
  const segTag = `x0028${hex(0x1221 + colour)}`;
  const dataTag = `x0028${hex(0x1201 + colour)}`;
  if (ds.elements[segTag]) return { first, bits, data: expandSegmented(ds, segTag, count) };
  const el = ds.elements[dataTag];
  if (!ds.elements[descTag] || !el) {
    throw new AppError('INPUT_CORRUPT', 'palette colour LUT missing', {
      userMessage: 'This PALETTE COLOR DICOM image lacks its colour table.',
    });
  }
  const data = new Uint16Array(count);
  if (bits === 8 && el.length === count) {
    // 8-bit entries packed two per 16-bit word.
    for (let i = 0; i < count; i++) data[i] = ds.byteArray[el.dataOffset + i]!;
  } else {
    const n = Math.min(count, Math.floor(el.length / 2));
    for (let i = 0; i < n; i++) data[i] = ds.uint16(dataTag, i) ?? 0;
  }
  return { first, bits, data };
}

/** Segmented LUT opcodes (C.7.9.2): 0 discrete, 1 linear ramp, 2 indirect copy of earlier segments. */
function expandSegmented(ds: DataSet, tag: string, count: number): Uint16Array {
  const el = ds.elements[tag]!;
  const words = Math.floor(el.length / 2);
  const seg = new Uint16Array(words);
  for (let i = 0; i < words; i++) seg[i] = ds.uint16(tag, i) ?? 0;
  const out: number[] = [];
  const run = (start: number, end: number, depth: number) => {
    let i = start;
    while (i < end && out.length < count) {
      const op = seg[i]!;
      const n = seg[i + 1] ?? 0;
      if (op === 0) {
        for (let k = 0; k < n; k++) out.push(seg[i + 2 + k] ?? 0);
        i += 2 + n;
      } else if (op === 1) {
        const y0 = out.length > 0 ? out[out.length - 1]! : 0;
        const y1 = seg[i + 2] ?? 0;
        for (let k = 1; k <= n; k++) out.push(Math.round(y0 + ((y1 - y0) * k) / n));
        i += 3;
      } else if (op === 2 && depth < 4) {
        const offset = (seg[i + 2] ?? 0) | ((seg[i + 3] ?? 0) << 16);
        let j = offset;
        for (let k = 0; k < n && j < end; k++) {
          const skip = seg[j] === 0 ? 2 + (seg[j + 1] ?? 0) : seg[j] === 1 ? 3 : 4;
          run(j, j + skip, depth + 1);
          j += skip;
        }
        i += 4;
      } else {
        throw new AppError('INPUT_CORRUPT', `segmented palette opcode ${op}`, {
          userMessage: 'The colour table of this PALETTE COLOR DICOM image is damaged.',
        });
      }
    }
  };
  run(0, words, 0);
  const data = new Uint16Array(count);
  for (let i = 0; i < count; i++) data[i] = out[Math.min(i, out.length - 1)] ?? 0;
  return data;
}

export function paletteToRgb8(frame: StoredFrame, info: ImageInfo, ds: DataSet): Uint8Array {
  const luts = [
    readPalette(ds, 0, info.signed),
    readPalette(ds, 1, info.signed),
    readPalette(ds, 2, info.signed),
  ];
  const pixels = info.rows * info.columns;
  const out = new Uint8Array(pixels * 3);
  for (let c = 0; c < 3; c++) {
    const { first, data, bits } = luts[c]!;
    const last = data.length - 1;
    // 16-bit entries: keep the high byte (65280 → 255), as PS3.3 scales by the entry size.
    const shift = bits > 8 ? 8 : 0;
    for (let p = 0; p < pixels; p++) {
      let k = frame.values[p]! - first;
      if (k < 0) k = 0;
      else if (k > last) k = last;
      out[p * 3 + c] = data[k]! >> shift;
    }
  }
  return out;
}
