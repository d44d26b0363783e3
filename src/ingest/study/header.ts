import type { SafeImageMeta } from '../../core/types.ts';
import { safeMeta } from '../dicom/deid.ts';
import { parseDicomBytes } from '../dicom/parse.ts';

/**
 * What a study needs to know about a DICOM file before decoding it: the allow-listed facts (to plan
 * windows and labels) and the slice geometry (to order a series). Geometry never leaves ingest and is
 * never sent anywhere: it only orders slices. Identity (UIDs, names, dates) is not read at all.
 */
export interface SliceHeader {
  meta: SafeImageMeta;
  rows: number;
  columns: number;
  frames: number;
  /** Instance Number (0020,0013), PS3.3 C.7.6.1. */
  instanceNumber?: number;
  /** Image Position (Patient) (0020,0032): the first voxel's centre, mm (PS3.3 C.7.6.2.1.1). */
  position?: [number, number, number];
  /** Image Orientation (Patient) (0020,0037): row then column direction cosines. */
  orientation?: [number, number, number, number, number, number];
}

/** Undefined when the bytes are not a DICOM dataset this reader can parse (decoding will say why). */
export function readSliceHeader(bytes: Uint8Array): SliceHeader | undefined {
  let parsed: ReturnType<typeof parseDicomBytes>;
  try {
    parsed = parseDicomBytes(bytes);
  } catch {
    return undefined;
  }
  const ds = parsed.dataSet;
  const numbers = (tag: string, count: number): number[] | undefined => {
    const out: number[] = [];
    for (let i = 0; i < count; i++) {
      const value = ds.floatString(tag, i);
      if (value === undefined || !Number.isFinite(value)) return undefined;
      out.push(value);
    }
    return out;
  };
  const instance = ds.intString('x00200013');
  const frames = Number.parseInt((ds.string('x00280008') ?? '1').trim(), 10);
  const header: SliceHeader = {
    meta: safeMeta(ds),
    rows: ds.uint16('x00280010') ?? 0,
    columns: ds.uint16('x00280011') ?? 0,
    frames: Number.isInteger(frames) && frames > 0 ? frames : 1,
  };
  if (instance !== undefined && Number.isFinite(instance)) header.instanceNumber = instance;
  const position = numbers('x00200032', 3);
  if (position) header.position = position as SliceHeader['position'];
  const orientation = numbers('x00200037', 6);
  if (orientation) header.orientation = orientation as SliceHeader['orientation'];
  return header;
}
