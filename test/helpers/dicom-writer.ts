/**
 * A tiny test-only DICOM writer (PS3.5 §7, PS3.10 §7): enough to build synthetic Part 10 files in
 * memory for unit tests — explicit/implicit little endian, explicit big endian, optional preamble
 * and File Meta, nested sequences with undefined lengths, and encapsulated pixel data.
 */
import { deflateRawSync } from 'node:zlib';

export type Value =
  | string
  | number
  | number[]
  | Uint8Array
  | Uint16Array
  | Int16Array
  | Float32Array
  | Item[];
export type Item = Element[];
export interface Element {
  tag: number;
  vr: string;
  value: Value;
}

export const TS = {
  implicitLE: '1.2.840.10008.1.2',
  explicitLE: '1.2.840.10008.1.2.1',
  deflated: '1.2.840.10008.1.2.1.99',
  explicitBE: '1.2.840.10008.1.2.2',
  rle: '1.2.840.10008.1.2.5',
  jpegBaseline: '1.2.840.10008.1.2.4.50',
  jpegLs: '1.2.840.10008.1.2.4.80',
  j2k: '1.2.840.10008.1.2.4.90',
  htj2k: '1.2.840.10008.1.2.4.201',
} as const;

export const el = (tag: number, vr: string, value: Value): Element => ({ tag, vr, value });

/** Encapsulated Pixel Data (PS3.5 A.4): optional Basic Offset Table, then one item per fragment. */
export function encapsulated(frames: Uint8Array[][], withOffsetTable = true): Element {
  return { tag: 0x7fe00010, vr: 'OB', value: Object.assign(new Uint8Array(0), { frames, withOffsetTable }) };
}

const LONG = new Set(['OB', 'OD', 'OF', 'OL', 'OW', 'SQ', 'UC', 'UN', 'UR', 'UT', 'OV', 'SV', 'UV']);

interface Enc {
  little: boolean;
  explicit: boolean;
}

class Out {
  chunks: Uint8Array[] = [];
  bytes(b: Uint8Array) {
    this.chunks.push(b);
  }
  u16(v: number, little: boolean) {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, v, little);
    this.bytes(b);
  }
  u32(v: number, little: boolean) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v >>> 0, little);
    this.bytes(b);
  }
  concat(): Uint8Array {
    const n = this.chunks.reduce((s, c) => s + c.length, 0);
    const out = new Uint8Array(n);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

function encodeValue(e: Element, enc: Enc): Uint8Array {
  const { vr, value } = e;
  const numbers =
    typeof value === 'number' ? [value] : Array.isArray(value) ? (value as number[]) : undefined;
  const sizes: Record<string, number> = { US: 2, SS: 2, UL: 4, SL: 4, FL: 4, FD: 8 };
  if (numbers && sizes[vr]) {
    const size = sizes[vr]!;
    const b = new Uint8Array(numbers.length * size);
    const dv = new DataView(b.buffer);
    numbers.forEach((n, i) => {
      if (vr === 'US') dv.setUint16(i * 2, n, enc.little);
      else if (vr === 'SS') dv.setInt16(i * 2, n, enc.little);
      else if (vr === 'UL') dv.setUint32(i * 4, n, enc.little);
      else if (vr === 'SL') dv.setInt32(i * 4, n, enc.little);
      else if (vr === 'FL') dv.setFloat32(i * 4, n, enc.little);
      else dv.setFloat64(i * 8, n, enc.little);
    });
    return b;
  }
  if (value instanceof Uint16Array || value instanceof Int16Array) {
    const b = new Uint8Array(value.length * 2);
    const dv = new DataView(b.buffer);
    for (let i = 0; i < value.length; i++) dv.setUint16(i * 2, value[i]! & 0xffff, enc.little);
    return pad(b, 0);
  }
  if (value instanceof Float32Array) {
    const b = new Uint8Array(value.length * 4);
    const dv = new DataView(b.buffer);
    for (let i = 0; i < value.length; i++) dv.setFloat32(i * 4, value[i]!, enc.little);
    return b;
  }
  if (value instanceof Uint8Array) return pad(value, 0);
  const text = Array.isArray(value) ? value.join('\\') : String(value);
  return pad(new TextEncoder().encode(text), vr === 'UI' || vr === 'OB' ? 0 : 0x20);
}

function pad(b: Uint8Array, byte: number): Uint8Array {
  if (b.length % 2 === 0) return b;
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  out[b.length] = byte;
  return out;
}

function writeHeader(out: Out, tag: number, vr: string, length: number, enc: Enc) {
  out.u16(tag >>> 16, enc.little);
  out.u16(tag & 0xffff, enc.little);
  if (!enc.explicit) {
    out.u32(length, enc.little);
    return;
  }
  out.bytes(new TextEncoder().encode(vr));
  if (LONG.has(vr)) {
    out.u16(0, enc.little);
    out.u32(length, enc.little);
  } else {
    out.u16(length, enc.little);
  }
}

function writeElements(out: Out, elements: Element[], enc: Enc) {
  for (const e of [...elements].sort((a, b) => (a.tag >>> 0) - (b.tag >>> 0))) {
    const frames = (e.value as { frames?: Uint8Array[][] }).frames;
    if (frames) {
      writeEncapsulated(out, e, frames, enc);
    } else if (e.vr === 'SQ') {
      writeHeader(out, e.tag, 'SQ', 0xffffffff, enc);
      for (const item of e.value as Item[]) {
        out.u16(0xfffe, enc.little);
        out.u16(0xe000, enc.little);
        out.u32(0xffffffff, enc.little);
        writeElements(out, item, enc);
        out.u16(0xfffe, enc.little);
        out.u16(0xe00d, enc.little);
        out.u32(0, enc.little);
      }
      out.u16(0xfffe, enc.little);
      out.u16(0xe0dd, enc.little);
      out.u32(0, enc.little);
    } else {
      const v = encodeValue(e, enc);
      writeHeader(out, e.tag, e.vr, v.length, enc);
      out.bytes(v);
    }
  }
}

function writeEncapsulated(out: Out, e: Element, frames: Uint8Array[][], enc: Enc) {
  const withTable = (e.value as { withOffsetTable?: boolean }).withOffsetTable;
  writeHeader(out, e.tag, 'OB', 0xffffffff, enc);
  const offsets: number[] = [];
  let offset = 0;
  for (const fragments of frames) {
    offsets.push(offset);
    for (const f of fragments) offset += 8 + pad(f, 0).length;
  }
  const item = (payload: Uint8Array) => {
    out.u16(0xfffe, true);
    out.u16(0xe000, true);
    out.u32(payload.length, true);
    out.bytes(payload);
  };
  const table = new Uint8Array(withTable ? offsets.length * 4 : 0);
  if (withTable)
    for (let i = 0; i < offsets.length; i++) new DataView(table.buffer).setUint32(i * 4, offsets[i]!, true);
  item(table);
  for (const fragments of frames) for (const f of fragments) item(pad(f, 0));
  out.u16(0xfffe, true);
  out.u16(0xe0dd, true);
  out.u32(0, true);
}

export interface WriteOptions {
  transferSyntax?: string;
  /** Write the 128-byte preamble and "DICM" (default true). */
  preamble?: boolean;
  /** Write File Meta Information (default true). */
  meta?: boolean;
  sopClassUid?: string;
}

export function writeDicom(elements: Element[], options: WriteOptions = {}): Uint8Array {
  const ts = options.transferSyntax ?? TS.explicitLE;
  const out = new Out();
  if (options.preamble ?? true) {
    out.bytes(new Uint8Array(128));
    out.bytes(new TextEncoder().encode('DICM'));
  }
  if (options.meta ?? true) {
    const metaOut = new Out();
    const sop = options.sopClassUid ?? '1.2.840.10008.5.1.4.1.1.7';
    writeElements(
      metaOut,
      [
        el(0x00020001, 'OB', new Uint8Array([0, 1])),
        el(0x00020002, 'UI', sop),
        el(0x00020003, 'UI', '1.2.3.4.5.6.7'),
        el(0x00020010, 'UI', ts),
        el(0x00020012, 'UI', '1.2.3.4.999'),
      ],
      { little: true, explicit: true },
    );
    const metaBytes = metaOut.concat();
    writeElements(out, [el(0x00020000, 'UL', metaBytes.length)], { little: true, explicit: true });
    out.bytes(metaBytes);
  }
  const enc: Enc = { little: ts !== TS.explicitBE, explicit: ts !== TS.implicitLE };
  const body = new Out();
  writeElements(body, elements, enc);
  if (ts === TS.deflated) {
    // Deflated Explicit VR Little Endian: raw deflate of the dataset (PS3.5 A.5).
    out.bytes(deflateRawSync(body.concat()));
  } else {
    out.bytes(body.concat());
  }
  return out.concat();
}

/** The usual Image Pixel module for a greyscale image, plus overrides. */
export function imageElements(options: {
  rows: number;
  columns: number;
  bitsAllocated?: number;
  bitsStored?: number;
  signed?: boolean;
  samples?: number;
  photometric?: string;
  frames?: number;
  pixels?: Uint8Array | Uint16Array | Int16Array | Float32Array;
  extra?: Element[];
}): Element[] {
  const ba = options.bitsAllocated ?? 16;
  const list: Element[] = [
    el(0x00080016, 'UI', '1.2.840.10008.5.1.4.1.1.7'),
    el(0x00280002, 'US', options.samples ?? 1),
    el(0x00280004, 'CS', options.photometric ?? 'MONOCHROME2'),
    el(0x00280010, 'US', options.rows),
    el(0x00280011, 'US', options.columns),
    el(0x00280100, 'US', ba),
    el(0x00280101, 'US', options.bitsStored ?? ba),
    el(0x00280102, 'US', (options.bitsStored ?? ba) - 1),
    el(0x00280103, 'US', options.signed ? 1 : 0),
  ];
  if (options.frames !== undefined) list.push(el(0x00280008, 'IS', String(options.frames)));
  if (options.pixels) list.push(el(0x7fe00010, ba > 8 ? 'OW' : 'OB', options.pixels));
  const extra = options.extra ?? [];
  const tags = new Set(extra.map((e) => e.tag));
  return [...list.filter((e) => !tags.has(e.tag)), ...extra];
}
