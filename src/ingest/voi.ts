/**
 * VOI (value of interest) windowing: which window to show and the DICOM linear function that maps
 * modality values to 8-bit display levels (PS3.3 C.11.2.1.2.1). Also used by the raster pipeline
 * for 16-bit greyscale PNG/TIFF, where there are no Hounsfield units and so no presets from the
 * question.
 */
import type { WindowInfo } from '../core/types.js';

export type WindowPreset = 'lung' | 'mediastinum' | 'bone' | 'brain' | 'soft-tissue';
export type WindowChoice = 'auto' | WindowPreset | { center: number; width: number };

/** CT presets in Hounsfield units (common radiology defaults: center/width). */
export const windowPresets: Record<WindowPreset, { center: number; width: number }> = {
  lung: { center: -600, width: 1500 },
  mediastinum: { center: 40, width: 400 },
  bone: { center: 400, width: 1800 },
  brain: { center: 40, width: 80 },
  'soft-tissue': { center: 50, width: 350 },
};

// Order matters: the first preset whose words appear in the question wins. "Lung window" style
// wording is matched before organ names so "mediastinal window on this lung CT" picks mediastinum.
const presetWords: Array<[WindowPreset, RegExp]> = [
  ['lung', /\blung window\b/],
  ['mediastinum', /\bmediastin\w* window\b/],
  ['bone', /\bbone window\b/],
  ['brain', /\bbrain window\b/],
  ['soft-tissue', /\bsoft[- ]tissue window\b/],
  ['lung', /\b(lungs?|pulmonary|nodules?|pneumothorax|emphysema|airways?|consolidation|ground[- ]glass)\b/],
  ['brain', /\b(brain|intracranial|stroke|h(a)?emorrhage|bleed|subdural|extradural|epidural)\b/],
  ['bone', /\b(bones?|fractures?|osseous|lytic|sclerotic|vertebra\w*|ribs?|spine|skeletal)\b/],
  ['mediastinum', /\b(mediastin\w*|aort\w*|lymph nodes?|pericardi\w*|heart|cardiac|pulmonary embol\w*)\b/],
  [
    'soft-tissue',
    /\b(soft[- ]tissue|abdom\w*|liver|hepatic|kidneys?|renal|pancrea\w*|spleen|bowel|pelvi\w*)\b/,
  ],
];

/** The CT window preset a question asks about, if any. The question is never logged. */
export function presetFromQuestion(question: string): WindowPreset | undefined {
  const q = question.toLowerCase();
  for (const [preset, re] of presetWords) if (re.test(q)) return preset;
  return undefined;
}

export interface ChooseWindowInput {
  choice?: WindowChoice;
  question?: string;
  /** The dataset's first Window Center/Width (or the functional-group one). */
  dataset?: { center: number; width: number };
  /** Presets are in Hounsfield units: only offered from the question when modality is CT. */
  modality?: string;
  /** The 0.5 and 99.5 percentiles when the caller has them cheaper than from `values` (integer frames). */
  percentiles?: () => [number, number];
}

/**
 * Order: explicit user choice → a CT preset named in the question → the dataset's window → a robust
 * percentile window (0.5–99.5 %) of the values, which ignores padding and a few hot pixels.
 */
export function chooseWindow(values: ArrayLike<number>, input: ChooseWindowInput): WindowInfo {
  const { choice } = input;
  if (choice !== undefined && choice !== 'auto') {
    if (typeof choice === 'object') {
      return { ...validWindow(choice), source: 'user', reason: 'window given by the user' };
    }
    return {
      ...windowPresets[choice],
      source: 'user',
      preset: choice,
      reason: `the user asked for the ${choice} window`,
    };
  }
  // The clinician's intent first (issue 17): "lung window: any nodule?" on a CT stored at 40/400 (soft
  // tissue, where lung parenchyma is black) is shown in the lung window.
  const preset = input.question && input.modality === 'CT' ? presetFromQuestion(input.question) : undefined;
  if (preset) {
    const stored = input.dataset ? "; it wins over the file's own window" : '';
    return {
      ...windowPresets[preset],
      source: 'preset',
      preset,
      reason: `CT and the question is about ${preset}${stored}`,
    };
  }
  if (input.dataset && input.dataset.width > 0 && Number.isFinite(input.dataset.center)) {
    return { ...input.dataset, source: 'dataset', reason: "the file's own Window Center/Width" };
  }
  const [lo, hi] = input.percentiles?.() ?? percentileRange(values, 0.005, 0.995);
  return {
    center: (lo + hi) / 2,
    width: Math.max(hi - lo, 1),
    source: 'percentile',
    reason: 'no stored window: 0.5–99.5 percentile of the pixel values',
  };
}

function validWindow(w: { center: number; width: number }): { center: number; width: number } {
  if (!Number.isFinite(w.center) || !Number.isFinite(w.width) || w.width < 1) {
    return { center: w.center || 0, width: Math.max(1, w.width || 1) };
  }
  return { center: w.center, width: w.width };
}

/**
 * Percentiles from a 65,536-bin histogram over [min, max]: linear time (a sort of a 14 Mpx
 * mammogram would dominate decoding) and finer than any display window needs.
 */
export function percentileRange(values: ArrayLike<number>, low: number, high: number): [number, number] {
  const n = values.length;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let count = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
    if (!Number.isNaN(v)) count++;
  }
  if (count === 0) return [0, 1];
  if (max === min) return [min, max];
  const bins = 65536;
  const scale = (bins - 1) / (max - min);
  const counts = new Uint32Array(bins);
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (!Number.isNaN(v)) counts[((v - min) * scale) | 0]!++;
  }
  const at = (p: number) => {
    const target = Math.max(1, Math.ceil(p * count));
    let cumulative = 0;
    for (let b = 0; b < bins; b++) {
      cumulative += counts[b]!;
      if (cumulative >= target) return min + b / scale;
    }
    return max;
  };
  return [at(low), at(high)];
}

/**
 * PS3.3 C.11.2.1.2.1 LINEAR: y = ((x − (c − 0.5)) / (w − 1) + 0.5) · 255, clipped to 0..255;
 * LINEAR_EXACT (C.11.2.1.3.2) and SIGMOID (C.11.2.1.3.1) when the file's VOI LUT Function asks for
 * them. MONOCHROME1 is inverted after windowing (PS3.3 C.7.6.3.1.2).
 */
export function applyWindow(
  values: ArrayLike<number>,
  window: WindowInfo,
  invert: boolean,
  fn: VoiFunction = 'LINEAR',
): Uint8Array {
  if (values instanceof Int32Array || values instanceof Int16Array || values instanceof Uint16Array) {
    return applyWindowLut(values, window, invert, fn);
  }
  const out = new Uint8Array(values.length);
  const c = window.center;
  const w = Math.max(window.width, fn === 'LINEAR' ? 1 : Number.MIN_VALUE);
  const lower = fn === 'LINEAR' ? c - 0.5 - (w - 1) / 2 : c - w / 2;
  const upper = fn === 'LINEAR' ? c - 0.5 + (w - 1) / 2 : c + w / 2;
  const scale = fn === 'LINEAR' ? (w > 1 ? 255 / (w - 1) : 0) : 255 / w;
  const offset = fn === 'LINEAR' ? c - 0.5 : c;
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    let y: number;
    if (fn === 'SIGMOID') y = Math.round(255 / (1 + Math.exp((-4 * (x - c)) / w)));
    else if (x <= lower) y = 0;
    else if (x > upper) y = 255;
    else y = ((x - offset) * scale + 127.5 + 0.5) | 0;
    if (y > 255) y = 255;
    else if (!(y >= 0)) y = 0;
    out[i] = invert ? 255 - y : y;
  }
  return out;
}

export type VoiFunction = 'LINEAR' | 'LINEAR_EXACT' | 'SIGMOID';

/** Integer input: window each distinct value once through a lookup table (same function). */
function applyWindowLut(
  values: Int32Array | Int16Array | Uint16Array,
  window: WindowInfo,
  invert: boolean,
  fn: VoiFunction,
): Uint8Array {
  let min = 0;
  let max = 0;
  if (values.length > 0) {
    min = values[0]!;
    max = min;
  }
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < min) min = v;
    else if (v > max) max = v;
  }
  if (max - min > 1 << 22) return applyWindow(Float64Array.from(values), window, invert, fn);
  const lut = applyWindow(
    Float64Array.from({ length: max - min + 1 }, (_, i) => min + i),
    window,
    invert,
    fn,
  );
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = lut[values[i]! - min]!;
  return out;
}
