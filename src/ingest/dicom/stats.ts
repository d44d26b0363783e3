/** Min, max and mean of pixel values (reported so decoders can be checked against a reference). */
export function stats(values: ArrayLike<number>): { min: number; max: number; mean: number } {
  // Float frames get their own copy of the loop, so that neither copy meets more than three array
  // types (see IntegerValues in pixels.ts: a loop over more goes megamorphic, ~12× slower).
  if (values instanceof Float32Array || values instanceof Float64Array) return floatStats(values);
  const n = values.length;
  if (n === 0) return { min: 0, max: 0, mean: 0 };
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  return { min, max, mean: sum / n };
}

function floatStats(values: Float32Array | Float64Array): { min: number; max: number; mean: number } {
  const n = values.length;
  if (n === 0) return { min: 0, max: 0, mean: 0 };
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  return { min, max, mean: sum / n };
}
