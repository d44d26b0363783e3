/**
 * Modality LUT (PS3.3 C.11.1: Rescale Slope/Intercept or Modality LUT Sequence, and for enhanced
 * multi-frame objects the Pixel Value Transformation in the per-frame or shared functional groups,
 * C.7.6.16.2.9) and the VOI inputs (C.11.2: the first Window Center/Width, Frame VOI LUT in the
 * functional groups C.7.6.16.2.10, or the VOI LUT Sequence).
 */
import type { DataSet } from 'dicom-parser';
import { AppError } from '../../errors.js';
import type { VoiFunction } from '../voi.js';
import type { StoredValues } from './pixels.js';

export interface Lut {
  firstMapped: number;
  bits: number;
  data: Uint16Array;
}

export interface ModalityResult {
  values: StoredValues;
  source: 'rescale' | 'functional-groups' | 'lut-sequence' | 'none';
}

/** The item of a sequence, or undefined. */
export function item(ds: DataSet | undefined, tag: string, index = 0): DataSet | undefined {
  return ds?.elements[tag]?.items?.[index]?.dataSet;
}

/** Per-frame functional group item first, then the shared one (C.7.6.16.1). */
function functionalGroup(ds: DataSet, frameIndex: number, macroTag: string): DataSet | undefined {
  return item(item(ds, 'x52009230', frameIndex), macroTag) ?? item(item(ds, 'x52009229'), macroTag);
}

export function readLut(
  ds: DataSet,
  descriptorTag: string,
  dataTag: string,
  signedInput: boolean,
): Lut | undefined {
  const d = ds.elements[descriptorTag];
  const dataEl = ds.elements[dataTag];
  if (!d || !dataEl || dataEl.length < 2) return undefined;
  const count = ds.uint16(descriptorTag, 0) || 65536;
  let first = ds.uint16(descriptorTag, 1) ?? 0;
  // The first mapped value is SS when the pixel data are signed (C.11.1.1.1).
  if (signedInput && first > 32767) first -= 65536;
  const bits = ds.uint16(descriptorTag, 2) ?? 16;
  const n = Math.min(count, Math.floor(dataEl.length / 2));
  const data = new Uint16Array(n);
  for (let i = 0; i < n; i++) data[i] = ds.uint16(dataTag, i) ?? 0;
  return { firstMapped: first, bits, data };
}

export function lookup(lut: Lut, values: ArrayLike<number>): Float32Array {
  const out = new Float32Array(values.length);
  const last = lut.data.length - 1;
  for (let i = 0; i < values.length; i++) {
    let k = Math.round(values[i]!) - lut.firstMapped;
    if (k < 0) k = 0;
    else if (k > last) k = last;
    out[i] = lut.data[k]!;
  }
  return out;
}

/** A linear modality transform (Rescale Slope/Intercept, C.11.1.1.2): where it comes from and its terms. */
export interface LinearModality {
  slope: number;
  intercept: number;
  source: 'rescale' | 'functional-groups' | 'none';
}

/**
 * The modality transform when it is linear: the Pixel Value Transformation functional group first,
 * then the top-level Rescale Slope/Intercept, else identity; undefined when a Modality LUT Sequence
 * (a table, not a line) applies instead.
 */
export function linearModality(ds: DataSet, frameIndex: number): LinearModality | undefined {
  const fg = functionalGroup(ds, frameIndex, 'x00289145');
  const source = fg ?? ds;
  const slope = source.floatString('x00281053');
  const intercept = source.floatString('x00281052');
  if (slope !== undefined || intercept !== undefined) {
    // A value that is not a number (DS must be a decimal string, PS3.5 6.2) would turn every pixel
    // into NaN and show a black image that looks like a read: refuse the file instead.
    if (!Number.isFinite(slope ?? 1) || !Number.isFinite(intercept ?? 0)) {
      throw new AppError('INPUT_CORRUPT', 'Rescale Slope/Intercept not a usable number', {
        userMessage:
          "The DICOM file's Rescale Slope or Rescale Intercept is not a valid number, so its pixel values cannot be turned into real units. Export the image again from the scanner or PACS.",
      });
    }
    return { slope: slope ?? 1, intercept: intercept ?? 0, source: fg ? 'functional-groups' : 'rescale' };
  }
  return item(ds, 'x00283000') ? undefined : { slope: 1, intercept: 0, source: 'none' };
}

export function modalityTransform(
  stored: StoredValues,
  ds: DataSet,
  frameIndex: number,
  signed: boolean,
): ModalityResult {
  const linear = linearModality(ds, frameIndex);
  if (linear && linear.source !== 'none') {
    return { values: rescale(stored, linear.slope, linear.intercept), source: linear.source };
  }
  const mlut = item(ds, 'x00283000');
  const lut = mlut && readLut(mlut, 'x00283002', 'x00283006', signed);
  if (lut) return { values: lookup(lut, stored), source: 'lut-sequence' };
  return { values: stored, source: 'none' };
}

function rescale(stored: StoredValues, slope: number, intercept: number): StoredValues {
  if (slope === 1 && intercept === 0) return stored;
  if (
    slope === 1 &&
    Number.isInteger(intercept) &&
    !(stored instanceof Float32Array || stored instanceof Float64Array)
  ) {
    const out = new Int32Array(stored.length);
    for (let i = 0; i < stored.length; i++) out[i] = stored[i]! + intercept;
    return out;
  }
  const out = new Float64Array(stored.length);
  for (let i = 0; i < stored.length; i++) out[i] = stored[i]! * slope + intercept;
  return out;
}

/** The first Window Center/Width: per-frame or shared Frame VOI LUT, else top level. */
export function datasetWindow(
  ds: DataSet,
  frameIndex: number,
): { center: number; width: number } | undefined {
  for (const source of [functionalGroup(ds, frameIndex, 'x00289132'), ds]) {
    if (!source) continue;
    const center = source.floatString('x00281050', 0);
    const width = source.floatString('x00281051', 0);
    if (center !== undefined && width !== undefined && Number.isFinite(center) && width >= 1) {
      return { center, width };
    }
  }
  return undefined;
}

export function voiLut(ds: DataSet, signed: boolean): Lut | undefined {
  const seq = item(ds, 'x00283010');
  return seq && readLut(seq, 'x00283002', 'x00283006', signed);
}

/** VOI LUT output scaled to 8 bits; MONOCHROME1 inverted afterwards (C.11.2.1.1, C.7.6.3.1.2). */
export function applyVoiLut(lut: Lut, values: ArrayLike<number>, invert: boolean): Uint8Array {
  let max = 0;
  for (const v of lut.data) if (v > max) max = v;
  // Some files declare 16 bits but use 12: trust the data's range when it exceeds the declared one.
  const declaredMax = 2 ** Math.min(Math.max(lut.bits, 1), 16) - 1;
  const top = Math.max(max, declaredMax);
  const mapped = lookup(lut, values);
  const out = new Uint8Array(values.length);
  for (let i = 0; i < mapped.length; i++) {
    const y = Math.round((mapped[i]! / top) * 255);
    out[i] = invert ? 255 - y : y;
  }
  return out;
}

/** VOI LUT Function (0028,1056), per-frame/shared Frame VOI LUT first; LINEAR when absent. */
export function voiFunction(ds: DataSet, frameIndex: number): VoiFunction {
  for (const source of [functionalGroup(ds, frameIndex, 'x00289132'), ds]) {
    const fn = source?.string('x00281056')?.trim().toUpperCase();
    if (fn === 'SIGMOID' || fn === 'LINEAR_EXACT' || fn === 'LINEAR') return fn;
  }
  return 'LINEAR';
}
