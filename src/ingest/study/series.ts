import type { SliceHeader } from './header.ts';

/**
 * A series of slices (a CT or MR stack, one file per slice, or one multi-frame file): put them in
 * anatomical order and pick the few the model can see. Only geometry orders them, never identity.
 */

/** Cross-sectional modalities whose files are slices of one volume (PS3.3 C.7.3.1.1.1 codes). */
const CROSS_SECTIONAL = new Set(['CT', 'MR', 'PT', 'NM']);

export const isSlice = (header: SliceHeader | undefined): boolean =>
  header !== undefined &&
  header.frames === 1 &&
  header.meta.modality !== undefined &&
  CROSS_SECTIONAL.has(header.meta.modality.toUpperCase());

/** Two slices belong to one stack when they share modality and matrix size. */
export const sameStack = (a: SliceHeader, b: SliceHeader): boolean =>
  a.meta.modality === b.meta.modality && a.rows === b.rows && a.columns === b.columns;

/**
 * Sorted order (indices into `slices`). Image Position (Patient) projected on the slice normal —
 * row × column direction cosines, PS3.3 C.7.6.2.1.1 — is the position along the stack and holds for
 * any orientation; without it, Instance Number (C.7.6.1); without that, the order posted. Ties keep
 * the order posted (Array.prototype.sort is stable).
 */
export function orderSlices(slices: readonly SliceHeader[]): number[] {
  const indices = slices.map((_, i) => i);
  const orientation = slices[0]?.orientation;
  if (orientation && slices.every((s) => s.position && s.orientation)) {
    const [rx, ry, rz, cx, cy, cz] = orientation;
    const normal = [ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx];
    const along = (s: SliceHeader) =>
      s.position![0] * normal[0]! + s.position![1] * normal[1]! + s.position![2] * normal[2]!;
    return indices.sort((a, b) => along(slices[a]!) - along(slices[b]!));
  }
  if (slices.every((s) => s.instanceNumber !== undefined)) {
    return indices.sort((a, b) => slices[a]!.instanceNumber! - slices[b]!.instanceNumber!);
  }
  return indices;
}

/** What the question asks of a series: a range ("slices 40-60"), a centre ("around slice 52"), one slice. */
export type SliceRequest =
  | { kind: 'range'; from: number; to: number }
  | { kind: 'around'; centre: number }
  | { kind: 'one'; slice: number };

const WORD = '(?:slices?|frames?|images?|cuts?)';

/** Read a slice request from the question; the question itself is never logged. Numbers are 1-based. */
export function sliceRequest(question: string): SliceRequest | undefined {
  const q = question.toLowerCase();
  const range = new RegExp(`\\b${WORD}\\s*(\\d{1,5})\\s*(?:-|–|to|through)\\s*(\\d{1,5})\\b`).exec(q);
  if (range) {
    const a = Number(range[1]);
    const b = Number(range[2]);
    return { kind: 'range', from: Math.min(a, b), to: Math.max(a, b) };
  }
  const around = new RegExp(`\\b(?:around|near|about|at|either side of)\\s+${WORD}\\s*(\\d{1,5})\\b`).exec(q);
  if (around) return { kind: 'around', centre: Number(around[1]) };
  const one = new RegExp(`\\b${WORD}\\s*(?:no\\.?|number|#)?\\s*(\\d{1,5})\\b`).exec(q);
  if (one) return { kind: 'one', slice: Number(one[1]) };
  return undefined;
}

export interface KeySlices {
  /** 1-based positions in the sorted series, ascending. */
  picked: number[];
  /** Set when the question asked for slices the series does not have. */
  outOfRange?: string;
}

/**
 * `count` slices spread over the series (each the middle of an equal share: 4 of 100 → 13, 38, 63, 88),
 * or over the range asked, or consecutive slices centred on the one asked.
 */
export function pickKeySlices(total: number, count: number, request?: SliceRequest): KeySlices {
  const clamp = (n: number) => Math.min(total, Math.max(1, n));
  let from = 1;
  let to = total;
  let outOfRange: string | undefined;
  if (request?.kind === 'range') {
    if (request.from > total)
      outOfRange = `slices ${request.from}-${request.to} asked, the series has ${total}`;
    else [from, to] = [clamp(request.from), clamp(request.to)];
  } else if (request?.kind === 'around' || request?.kind === 'one') {
    const centre = request.kind === 'around' ? request.centre : request.slice;
    if (centre > total || centre < 1) outOfRange = `slice ${centre} asked, the series has ${total}`;
    else if (request.kind === 'one') return { picked: [centre] };
    else {
      const n = Math.min(count, total);
      const start = Math.min(Math.max(1, centre - Math.floor((n - 1) / 2)), total - n + 1);
      return { picked: Array.from({ length: n }, (_, i) => start + i) };
    }
  }
  const span = to - from + 1;
  const n = Math.min(count, span);
  const picked = Array.from({ length: n }, (_, i) => from + Math.floor(((i + 0.5) * span) / n));
  return outOfRange ? { picked, outOfRange } : { picked };
}

/** "slices 13, 38, 63, 88 of 100" (or "frames" for a multi-frame file). */
export function describeSlices(picked: readonly number[], total: number, word: 'slice' | 'frame'): string {
  return `${word}${picked.length === 1 ? '' : 's'} ${picked.join(', ')} of ${total}`;
}
