/**
 * The bytes of one frame: a slice of native Pixel Data, or the compressed codestream of an
 * encapsulated frame (PS3.5 A.4) with or without a Basic Offset Table.
 */
import dicomParser, { type DataSet, type Element } from 'dicom-parser';
import { AppError } from '../../errors.js';
import type { ImageInfo } from './image-info.js';
import type { PixelCodec } from './syntax.js';

function truncated(message: string): AppError {
  return new AppError('INPUT_CORRUPT', message, {
    userMessage: 'The DICOM file is truncated: its pixel data is shorter than the image it describes.',
  });
}

/** Bytes per native frame (PS3.5 8.1.1); YBR_FULL_422 stores 2 samples per pixel (C.7.6.3.1.2). */
export function nativeFrameLength(info: ImageInfo): number {
  const bytesPerSample = info.bitsAllocated / 8;
  const samples = info.photometric === 'YBR_FULL_422' ? 2 : info.samplesPerPixel;
  return info.rows * info.columns * samples * bytesPerSample;
}

export function nativeFrame(ds: DataSet, info: ImageInfo, index: number): Uint8Array {
  const el = ds.elements[info.pixelTag] as Element;
  const frameLength = nativeFrameLength(info);
  const available = Math.min(el.length, ds.byteArray.length - el.dataOffset);
  if (el.encapsulatedPixelData) {
    throw new AppError('INPUT_CORRUPT', 'encapsulated pixel data under a native transfer syntax', {
      userMessage:
        'The DICOM file is inconsistent: its pixel data is compressed but the header says it is not.',
    });
  }
  if (available < frameLength * info.frames) {
    throw truncated(`native pixel data ${available} bytes < ${frameLength * info.frames} expected`);
  }
  const start = el.dataOffset + frameLength * index;
  return ds.byteArray.subarray(start, start + frameLength);
}

const isJpegStart = (b: Uint8Array) => b[0] === 0xff && b[1] === 0xd8;
const isJ2kStart = (b: Uint8Array) =>
  (b[0] === 0xff && b[1] === 0x4f && b[2] === 0xff && b[3] === 0x51) ||
  (b[0] === 0 && b[1] === 0 && b[2] === 0 && b[3] === 0x0c && b[4] === 0x6a && b[5] === 0x50);

export function encapsulatedFrame(
  ds: DataSet,
  info: ImageInfo,
  codec: PixelCodec,
  index: number,
): Uint8Array {
  const el = ds.elements[info.pixelTag] as Element;
  if (!el.encapsulatedPixelData) {
    throw new AppError('INPUT_CORRUPT', 'native pixel data under an encapsulated transfer syntax', {
      userMessage: 'The DICOM file is inconsistent: the header says compressed but the pixel data is not.',
    });
  }
  const fragments = el.fragments ?? [];
  if (fragments.length === 0) throw truncated('encapsulated pixel data without fragments');
  const end = ds.byteArray.length;
  for (const f of fragments) {
    if (f.position + f.length > end) throw truncated('fragment runs past the end of the file');
  }
  if (ds.warnings.some((w) => w.includes('missing sequence delimiter'))) {
    throw truncated('encapsulated pixel data without a sequence delimiter');
  }
  try {
    if (info.frames === 1) {
      return dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, 0, fragments.length);
    }
    const bot = el.basicOffsetTable ?? [];
    if (bot.length === info.frames) return dicomParser.readEncapsulatedImageFrame(ds, el, index);
    if (fragments.length === info.frames)
      return dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, index, 1);
    // No offset table and several fragments per frame: frames start where a codestream starts.
    const isStart = codec === 'j2k' || codec === 'htj2k' ? isJ2kStart : isJpegStart;
    const starts: number[] = [];
    fragments.forEach((f, i) => {
      if (isStart(ds.byteArray.subarray(f.position, f.position + 8))) starts.push(i);
    });
    if (starts.length === info.frames) {
      const first = starts[index]!;
      const next = starts[index + 1] ?? fragments.length;
      return dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, first, next - first);
    }
    if (codec !== 'j2k' && codec !== 'htj2k' && codec !== 'rle') {
      const table = dicomParser.createJPEGBasicOffsetTable(ds, el);
      if (table.length === info.frames) return dicomParser.readEncapsulatedImageFrame(ds, el, index, table);
    }
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw truncated(`could not read encapsulated frame: ${String(error).slice(0, 120)}`);
  }
  throw truncated(`found no way to split ${fragments.length} fragments into ${info.frames} frames`);
}
