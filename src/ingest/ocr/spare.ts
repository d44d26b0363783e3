import type { TextBox } from './detect.ts';
import type { Raster } from './raster.ts';

/** A pixel rectangle, x1/y1 exclusive. */
export interface Rect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/**
 * The rectangle a text box is blacked out over: the box padded a little beyond the glyphs
 * (anti-aliased edges, halos). The pad follows the line's thickness, not its upright height: a
 * vertical line ("HSA" written top to bottom beside a lead marker) is tall but thin, and padding it
 * by a fifth of its length reached 14 px into the marker beside it.
 */
export function fillRect(box: TextBox, width: number, height: number): Rect {
  const thickness = box.slant?.thickness ?? box.y1 - box.y0;
  const pad = Math.max(2, Math.round(thickness * 0.2));
  return {
    x0: Math.max(0, Math.floor(box.x0) - pad),
    y0: Math.max(0, Math.floor(box.y0) - pad),
    x1: Math.min(width, Math.ceil(box.x1) + pad),
    y1: Math.min(height, Math.ceil(box.y1) + pad),
  };
}

/** Pixels to keep inside a fill rectangle, and the area the kept shapes and the rectangle span. */
export interface SparedInk {
  /** One byte per pixel of the rectangle, row by row: 1 = keep. */
  keep: Uint8Array;
  extent: Rect;
}

/** A foreign shape may reach at most this far (in line thicknesses) beyond the fill rectangle. */
const REACH = 4;
/** A spared shape spans at least this many line thicknesses (a lead marker is bigger than a letter). */
const MIN_SIZE = 1.5;
/** Share of a shape's ink that must lie outside the detected box for it to be someone else's. */
const MIN_OUTSIDE = 0.6;

/**
 * Pixels inside a fill rectangle that belong to a bright shape standing mostly outside the text box:
 * the foot of a lead "L" marker reaching under the last letter of vertical initials (corpus
 * cr_chest_siim_*). The detector's box is a rectangle around the text; that shape is not part of
 * the text (most of its ink is outside the box) and blacking out its foot damages the marker.
 * Returns a mask over the rectangle (1 = keep), dilated by one pixel for the shape's soft edge, or
 * undefined when nothing is to be spared. Ink is "beyond halfway from the rectangle's median to
 * its far extreme"; a shape that reaches the edge of the search window (anatomy, a bright
 * background) is never spared. A letter of a neighbouring line the detector missed also stands
 * mostly outside the box, so the caller looks for text again around what was spared and fills the
 * box whole if anything is readable there: an error here can cost a marker, never a name.
 */
export function foreignInk(raster: Raster, box: TextBox, rect: Rect): SparedInk | undefined {
  const { width, height, channels, data } = raster;
  const thickness = Math.max(4, box.slant?.thickness ?? Math.min(box.x1 - box.x0, box.y1 - box.y0));
  const reach = Math.ceil(REACH * thickness);
  const win = {
    x0: Math.max(0, rect.x0 - reach),
    y0: Math.max(0, rect.y0 - reach),
    x1: Math.min(width, rect.x1 + reach),
    y1: Math.min(height, rect.y1 + reach),
  };
  const ww = win.x1 - win.x0;
  const wh = win.y1 - win.y0;
  const grey = (x: number, y: number): number => {
    const i = (y * width + x) * channels;
    if (channels < 3) return data[i]!;
    return Math.max(data[i]!, data[i + 1]!, data[i + 2]!);
  };
  const histogram = new Uint32Array(256);
  let min = 255;
  let max = 0;
  for (let y = rect.y0; y < rect.y1; y += 1) {
    for (let x = rect.x0; x < rect.x1; x += 1) {
      const v = grey(x, y);
      histogram[v]! += 1;
      if (v > max) max = v;
      if (v < min) min = v;
    }
  }
  const total = (rect.x1 - rect.x0) * (rect.y1 - rect.y0);
  let median = 0;
  for (let seen = 0; median < 256; median += 1) {
    seen += histogram[median]!;
    if (seen * 2 >= total) break;
  }
  // Most of a text box is background, so the median is the background; ink is whichever extreme
  // lies further from it (bright writing on film, dark writing on an inverted MONOCHROME1 view).
  const bright = max - median >= median - min;
  if (Math.max(max - median, median - min) < 32) return undefined; // no contrast: nothing to tell apart
  const threshold = bright ? (median + max) / 2 : (median + min) / 2;
  const isInk = (x: number, y: number): boolean => (bright ? grey(x, y) > threshold : grey(x, y) < threshold);

  const label = new Int32Array(ww * wh); // 0 unvisited, -1 not ink, n component id
  const stack = new Int32Array(ww * wh);
  const keep = new Uint8Array((rect.x1 - rect.x0) * (rect.y1 - rect.y0));
  const extent = { ...rect };
  let spared = false;
  let next = 1;
  for (let y = rect.y0; y < rect.y1; y += 1) {
    for (let x = rect.x0; x < rect.x1; x += 1) {
      const start = (y - win.y0) * ww + (x - win.x0);
      if (label[start] !== 0) continue;
      if (!isInk(x, y)) {
        label[start] = -1;
        continue;
      }
      const id = next++;
      let top = 0;
      stack[top++] = start;
      label[start] = id;
      let count = 0;
      let inside = 0;
      let edge = false;
      const members: number[] = [];
      const bounds = { x0: ww, y0: wh, x1: 0, y1: 0 };
      while (top > 0) {
        const index = stack[--top]!;
        members.push(index);
        const lx = index % ww;
        const ly = (index - lx) / ww;
        const gx = lx + win.x0;
        const gy = ly + win.y0;
        count += 1;
        bounds.x0 = Math.min(bounds.x0, lx);
        bounds.y0 = Math.min(bounds.y0, ly);
        bounds.x1 = Math.max(bounds.x1, lx + 1);
        bounds.y1 = Math.max(bounds.y1, ly + 1);
        if (gx >= box.x0 && gx < box.x1 && gy >= box.y0 && gy < box.y1) inside += 1;
        if (lx === 0 || ly === 0 || lx === ww - 1 || ly === wh - 1) edge = true;
        for (let dy = -1; dy <= 1; dy += 1) {
          const ny = ly + dy;
          if (ny < 0 || ny >= wh) continue;
          for (let dx = -1; dx <= 1; dx += 1) {
            const nx = lx + dx;
            if (nx < 0 || nx >= ww) continue;
            const n = ny * ww + nx;
            if (label[n] !== 0) continue;
            if (!isInk(nx + win.x0, ny + win.y0)) {
              label[n] = -1;
              continue;
            }
            label[n] = id;
            stack[top++] = n;
          }
        }
      }
      // Smaller than the line is thick: a letter of a neighbouring line (stacked ultrasound captions),
      // not a marker; the padding that reaches it is what hides a line the detector missed.
      const side = Math.max(bounds.x1 - bounds.x0, bounds.y1 - bounds.y0);
      if (edge || side < MIN_SIZE * thickness || (count - inside) / count < MIN_OUTSIDE) continue;
      spared = true;
      extent.x0 = Math.min(extent.x0, bounds.x0 + win.x0);
      extent.y0 = Math.min(extent.y0, bounds.y0 + win.y0);
      extent.x1 = Math.max(extent.x1, bounds.x1 + win.x0);
      extent.y1 = Math.max(extent.y1, bounds.y1 + win.y0);
      for (const index of members) {
        const lx = index % ww;
        const ly = (index - lx) / ww;
        for (let dy = -1; dy <= 1; dy += 1) {
          for (let dx = -1; dx <= 1; dx += 1) {
            const gx = lx + win.x0 + dx;
            const gy = ly + win.y0 + dy;
            if (gx < rect.x0 || gx >= rect.x1 || gy < rect.y0 || gy >= rect.y1) continue;
            keep[(gy - rect.y0) * (rect.x1 - rect.x0) + (gx - rect.x0)] = 1;
          }
        }
      }
    }
  }
  return spared ? { keep, extent } : undefined;
}
