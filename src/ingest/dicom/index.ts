/**
 * DICOM bytes → an 8-bit display image plus allow-listed facts. Steps: parse (parse.ts) → refuse
 * non-image objects (classify.ts) → Image Pixel module (image-info.ts) → frame bytes (frames.ts) →
 * decode (codecs.ts) → stored values (pixels.ts) → modality LUT → VOI → MONOCHROME1 inversion, or
 * colour conversion (color.ts) → de-identified metadata (deid.ts).
 */
import type { DataSet } from 'dicom-parser';
import type { ImageSourceInfo, WindowInfo } from '../../core/types.js';
import { AppError } from '../../errors.js';
import type { DisplayImage } from '../display.ts';
import { applyWindow, chooseWindow, presetFromQuestion, type WindowChoice } from '../voi.js';
import { refuseNonImage } from './classify.js';
import { decodeFrame } from './codecs.js';
import { colourToRgb8, paletteToRgb8 } from './color.js';
import { deidReport, safeMeta } from './deid.js';
import { encapsulatedFrame, nativeFrame } from './frames.js';
import { type ImageInfo, readImageInfo } from './image-info.js';
import {
  type IntegerFrame,
  integerFrame,
  integerPercentiles,
  linearStats,
  windowIntegerFrame,
} from './integer-window.js';
import { applyVoiLut, datasetWindow, linearModality, modalityTransform, voiFunction, voiLut } from './lut.js';
import { parseDicomBytes } from './parse.js';
import { isIntegerValues, type StoredFrame, storedFromDecoded, storedFromNative } from './pixels.js';
import { stats } from './stats.js';

/** What every decoder hands to fitting (../display.ts), plus the statistics the conformance suite checks. */
export interface DicomDisplayImage extends DisplayImage {
  stats: {
    storedMin: number;
    storedMax: number;
    storedMean: number;
    modalityMin?: number;
    modalityMax?: number;
    modalityMean?: number;
    rgbMean?: number;
  };
}

export interface DecodeDicomOptions {
  /** 1-based frame number; default the middle frame. */
  frame?: number;
  window?: WindowChoice;
  /** Only used to pick a CT window preset; never logged. */
  question?: string;
  maxPixels?: number;
  maxFrames?: number;
}

export const DEFAULT_MAX_PIXELS = 64 * 1024 * 1024;
export const DEFAULT_MAX_FRAMES = 4096;

export async function decodeDicom(
  bytes: Uint8Array,
  options: DecodeDicomOptions = {},
): Promise<DicomDisplayImage> {
  const { dataSet: ds, syntax } = parseDicomBytes(bytes);
  refuseNonImage(ds);
  const info = readImageInfo(ds, {
    maxPixels: options.maxPixels ?? DEFAULT_MAX_PIXELS,
    maxFrames: options.maxFrames ?? DEFAULT_MAX_FRAMES,
  });
  const codec = syntax.codec;
  if (!codec) {
    throw new AppError('TRANSFER_SYNTAX_UNSUPPORTED', `transfer syntax ${syntax.uid} (${syntax.name})`, {
      userMessage: `This DICOM file uses the ${syntax.name} transfer syntax (${syntax.uid}), which quickread cannot decode; export it as uncompressed or JPEG 2000 DICOM instead.`,
      details: { transferSyntax: syntax.uid },
    });
  }
  const frameIndex = pickFrame(options.frame, info.frames);
  const stored = await readFrame(ds, info, codec, syntax.bigEndian === true, frameIndex);
  const meta = safeMeta(ds);
  const source: ImageSourceInfo = {
    kind: 'dicom',
    rows: info.rows,
    columns: info.columns,
    frames: info.frames,
    frameIndex: frameIndex + 1,
    transferSyntax: syntax.uid,
    photometric: info.photometric,
  };
  const base = { width: info.columns, height: info.rows, source, meta, deid: deidReport(ds, meta) };
  const colour = info.samplesPerPixel === 3 || info.photometric === 'PALETTE COLOR';
  // Integer greyscale frames get a histogram instead (one pass gives the statistics and percentiles).
  const histogram = !colour && isIntegerValues(stored.values) ? integerFrame(stored.values) : undefined;
  const storedStats = histogram ?? stats(stored.values);
  const storedPart = { storedMin: storedStats.min, storedMax: storedStats.max, storedMean: storedStats.mean };
  if (colour) {
    const pixels = info.samplesPerPixel === 3 ? colourToRgb8(stored, info) : paletteToRgb8(stored, info, ds);
    const window: WindowInfo = {
      center: 127.5,
      width: 256,
      source: 'none',
      reason: 'colour image: shown as stored',
    };
    return { ...base, channels: 3, pixels, window, stats: { ...storedPart, rgbMean: stats(pixels).mean } };
  }
  return {
    ...base,
    channels: 1,
    ...greyscale(ds, info, stored, histogram, frameIndex, options, storedPart, meta.modality),
  };
}

function pickFrame(frame: number | undefined, frames: number): number {
  // Same convention as the raster path (display.ts pickFrame): frame ⌊n/2⌋+1 of n.
  if (frame === undefined) return Math.floor(frames / 2);
  if (!Number.isInteger(frame) || frame < 1 || frame > frames) {
    throw new AppError('USAGE', `frame ${frame} outside 1..${frames}`, {
      userMessage: `This file has ${frames} frame${frames === 1 ? '' : 's'}; choose a frame from 1 to ${frames}.`,
    });
  }
  return frame - 1;
}

async function readFrame(
  ds: DataSet,
  info: ImageInfo,
  codec: NonNullable<ReturnType<typeof parseDicomBytes>['syntax']['codec']>,
  bigEndian: boolean,
  frameIndex: number,
): Promise<StoredFrame> {
  if (codec === 'native') return storedFromNative(nativeFrame(ds, info, frameIndex), info, bigEndian);
  if (info.float) {
    throw new AppError('INPUT_CORRUPT', 'float pixel data in an encapsulated syntax', {
      userMessage: 'The DICOM file is inconsistent: floating-point pixels cannot be compressed this way.',
    });
  }
  const encoded = encapsulatedFrame(ds, info, codec, frameIndex);
  return storedFromDecoded(await decodeFrame(codec, encoded, info), info);
}

function greyscale(
  ds: DataSet,
  info: ImageInfo,
  stored: StoredFrame,
  histogram: IntegerFrame | undefined,
  frameIndex: number,
  options: DecodeDicomOptions,
  storedPart: { storedMin: number; storedMax: number; storedMean: number },
  modality: string | undefined,
): Pick<DicomDisplayImage, 'pixels' | 'window' | 'stats'> {
  const linear = linearModality(ds, frameIndex);
  // Integer stored values under a line (integer-window.ts): no per-pixel modality values at all.
  const table = linear && histogram ? { frame: histogram, linear } : undefined;
  const modalityValues = table
    ? undefined
    : modalityTransform(stored.values, ds, frameIndex, info.signed).values;
  // Without a modality LUT the values are the stored ones: reuse their statistics.
  const m = table
    ? linearStats(table.frame, table.linear)
    : modalityValues === stored.values
      ? { min: storedPart.storedMin, max: storedPart.storedMax, mean: storedPart.storedMean }
      : stats(modalityValues!);
  const statsOut = { ...storedPart, modalityMin: m.min, modalityMax: m.max, modalityMean: m.mean };
  // MONOCHROME1 shows its minimum as white (C.7.6.3.1.2); Presentation LUT Shape INVERSE (C.11.6.1)
  // asks for the same, and DX pairs the two, so either inverts once.
  const invert =
    info.photometric === 'MONOCHROME1' || ds.string('x20500020')?.trim().toUpperCase() === 'INVERSE';
  const dataset = datasetWindow(ds, frameIndex);
  // A CT preset named in the question wins over the file's own window and VOI LUT (voi.ts chooseWindow).
  const asked = modality === 'CT' && options.question ? presetFromQuestion(options.question) : undefined;
  const auto = !dataset && !asked && (options.window ?? 'auto') === 'auto';
  const lut = auto ? voiLut(ds, m.min < 0) : undefined;
  if (lut) {
    const window: WindowInfo = {
      center: lut.firstMapped + lut.data.length / 2,
      width: lut.data.length,
      source: 'voi-lut',
      reason: "the file's own VOI LUT Sequence",
    };
    const values = modalityValues ?? modalityTransform(stored.values, ds, frameIndex, info.signed).values;
    return { pixels: applyVoiLut(lut, values, invert), window, stats: statsOut };
  }
  const input: Parameters<typeof chooseWindow>[1] = {};
  if (options.window !== undefined) input.choice = options.window;
  if (options.question !== undefined) input.question = options.question;
  if (dataset) input.dataset = dataset;
  if (modality) input.modality = modality;
  const keep = sampleRule(ds, info, modality);
  if (table) {
    const { frame, linear: line } = table;
    const include = keep ? (s: number) => keep(s, s * line.slope + line.intercept) : () => true;
    input.percentiles = () => integerPercentiles(frame, line, include, 0.005, 0.995);
    const window = chooseWindow([], input);
    const fn = window.source === 'dataset' ? voiFunction(ds, frameIndex) : 'LINEAR';
    return { pixels: windowIntegerFrame(frame, line, window, invert, fn), window, stats: statsOut };
  }
  const values = modalityValues!;
  const sample = auto && keep ? windowSample(stored.values, values, keep) : values;
  const window = chooseWindow(sample, input);
  const fn = window.source === 'dataset' ? voiFunction(ds, frameIndex) : 'LINEAR';
  return { pixels: applyWindow(values, window, invert, fn), window, stats: statsOut };
}

/** Pixel Padding Value (0028,0120) and Pixel Padding Range Limit (0028,0121), as stored values. */
function paddingRange(ds: DataSet, info: ImageInfo): { lo: number; hi: number } | undefined {
  const signedTag = (tag: string) => {
    const el = ds.elements[tag];
    if (!el || el.length < 2) return undefined;
    const v = ds.uint16(tag) ?? 0;
    return info.signed && v > 32767 ? v - 65536 : v;
  };
  const pad = signedTag('x00280120');
  if (pad === undefined) return undefined;
  const limit = signedTag('x00280121') ?? pad;
  return { lo: Math.min(pad, limit), hi: Math.max(pad, limit) };
}

/**
 * Which pixels a percentile window should see, by stored and modality value: not Pixel Padding Value
 * (0028,0120) or the padding range up to (0028,0121) (PS3.3 C.7.5.1.1.2), and for CT nothing below
 * −1024 HU, which is outside-the-scan padding on every scanner (air is −1000), so the window fits the
 * patient, not the frame around it. Undefined when every pixel counts. Both paths use this one rule.
 */
function sampleRule(
  ds: DataSet,
  info: ImageInfo,
  modality: string | undefined,
): ((stored: number, value: number) => boolean) | undefined {
  const pad = paddingRange(ds, info);
  const ct = modality === 'CT';
  if (!pad && !ct) return undefined;
  return (s, v) => !(pad && s >= pad.lo && s <= pad.hi) && !(ct && v < -1024);
}

/** The values the rule keeps (all of them when it keeps none). */
function windowSample(
  stored: StoredFrame['values'],
  values: StoredFrame['values'],
  keep: (stored: number, value: number) => boolean,
): ArrayLike<number> {
  const out = new Float32Array(values.length);
  let k = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (keep(stored[i]!, v)) out[k++] = v;
  }
  return k > 0 ? out.subarray(0, k) : values;
}
