import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { contentBounds, type Raster } from './raster.ts';

/** An axis-aligned text box in source-image pixels; x1/y1 exclusive. */
export interface TextBox {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  /** Mean text probability over the detected component, 0..1. */
  score: number;
  /** Set for writing that runs at a slant (a rotated "L MLO" on a mammogram): its centre line. */
  slant?: Slant;
}

export interface Slant {
  /** Degrees from the x axis towards y (clockwise on screen), in (-90, 90]. */
  angle: number;
  cx: number;
  cy: number;
  /** Extent along and across the writing, unclip growth included. */
  length: number;
  thickness: number;
}

/** Below this tilt a box is read as it stands; elongation is needed for the angle to mean anything. */
const MIN_SLANT_DEGREES = 10;
const MIN_ELONGATION = 2.5;

export interface DetectOptions {
  /** Longest side the detector sees; larger images are scaled down for it (PaddleOCR det_limit_side_len). */
  maxSide?: number;
  /** Probability above which a pixel counts as text (PaddleOCR det_db_thresh 0.3). */
  pixelThreshold?: number;
  /** Mean probability a component needs to count as a text box (PaddleOCR det_db_box_thresh 0.6). */
  boxThreshold?: number;
}

const BASE = 32; // the DB detector needs sides that are multiples of 32
const MARGIN = 16;

/**
 * DB text detection (PP-OCRv4 det) over an RGB raster. Differences from @gutenye/ocr-common's
 * Detection.run, measured and chosen for speed and for redaction: typed arrays instead of JS arrays,
 * a side limit, and axis-aligned boxes per connected component (the whole glyph area, rotated text
 * included) instead of OpenCV minimum-area rectangles.
 */
export async function detectText(
  session: ort.InferenceSession,
  rgb: Raster,
  options: DetectOptions = {},
): Promise<TextBox[]> {
  const maxSide = options.maxSide ?? 1280;
  const scale = Math.min(1, maxSide / Math.max(rgb.width, rgb.height));
  let pixels = rgb.data;
  let sw = rgb.width;
  let sh = rgb.height;
  if (scale < 1) {
    sw = Math.max(1, Math.round(rgb.width * scale));
    sh = Math.max(1, Math.round(rgb.height * scale));
    const resized = await sharp(rgb.data, { raw: { width: rgb.width, height: rgb.height, channels: 3 } })
      .resize(sw, sh, { fit: 'fill', kernel: 'linear' })
      .raw()
      .toBuffer();
    pixels = new Uint8Array(resized.buffer, resized.byteOffset, resized.byteLength);
  }
  // A black margin on every side (and right/bottom up to a multiple of 32): DB misses text that
  // touches the border (dates in the top corner of ultrasound screens). No resampling, so
  // coordinates map back by the margin and the scale alone.
  const canvasWidth = Math.ceil((sw + 2 * MARGIN) / BASE) * BASE;
  const canvasHeight = Math.ceil((sh + 2 * MARGIN) / BASE) * BASE;
  // Only the window of that canvas around what is not black goes to the network (issue 21: the air
  // around a CT or MR slice, an ultrasound screen's black frame). Nothing legible is drawn where all
  // is black, the window keeps a margin of context, and it starts on the 32-px grid, so the
  // network's features inside it are the ones it computes on the whole canvas.
  const content = contentBounds({ data: pixels, width: sw, height: sh, channels: 3 });
  if (!content) return [];
  const left = Math.floor(content.x0 / BASE) * BASE;
  const top = Math.floor(content.y0 / BASE) * BASE;
  const tw = Math.min(canvasWidth, Math.ceil((content.x1 + 2 * MARGIN) / BASE) * BASE) - left;
  const th = Math.min(canvasHeight, Math.ceil((content.y1 + 2 * MARGIN) / BASE) * BASE) - top;
  const plane = tw * th;
  const input = new Float32Array(plane * 3);
  const x0 = Math.max(0, left - MARGIN);
  const x1 = Math.min(sw, left + tw - MARGIN);
  for (let y = Math.max(0, top - MARGIN); y < Math.min(sh, top + th - MARGIN); y += 1) {
    for (let x = x0; x < x1; x += 1) {
      const i = (y * sw + x) * 3;
      const o = (y + MARGIN - top) * tw + x + MARGIN - left;
      // BGR planes scaled to 0..1, as @gutenye/ocr-common feeds this model.
      input[o] = pixels[i + 2]! / 255;
      input[plane + o] = pixels[i + 1]! / 255;
      input[2 * plane + o] = pixels[i]! / 255;
    }
  }
  const feeds = { [session.inputNames[0]!]: new ort.Tensor('float32', input, [1, 3, th, tw]) };
  const output = (await session.run(feeds))[session.outputNames[0]!]!;
  const probability = output.data as Float32Array;
  const boxes = componentBoxes(probability, tw, th, {
    pixelThreshold: options.pixelThreshold ?? 0.3,
    boxThreshold: options.boxThreshold ?? 0.6,
  });
  const back = 1 / scale;
  const dx = left - MARGIN;
  const dy = top - MARGIN;
  return boxes.map((box) => {
    const out: TextBox = {
      x0: clamp(Math.floor((box.x0 + dx) * back), 0, rgb.width),
      y0: clamp(Math.floor((box.y0 + dy) * back), 0, rgb.height),
      x1: clamp(Math.ceil((box.x1 + dx) * back), 0, rgb.width),
      y1: clamp(Math.ceil((box.y1 + dy) * back), 0, rgb.height),
      score: box.score,
    };
    if (box.slant) {
      out.slant = {
        angle: box.slant.angle,
        cx: (box.slant.cx + dx) * back,
        cy: (box.slant.cy + dy) * back,
        length: box.slant.length * back,
        thickness: box.slant.thickness * back,
      };
    }
    return out;
  });
}

function clamp(value: number, min: number, max: number): number {
  return Math.max(min, Math.min(max, value));
}

/**
 * Connected components (8-neighbour) of the thresholded probability map, each grown by the DB
 * "unclip" distance area·1.5/perimeter (PaddleOCR DBPostProcess, unclip_ratio 1.5): the network
 * predicts shrunk text kernels.
 */
export function componentBoxes(
  probability: Float32Array,
  width: number,
  height: number,
  thresholds: { pixelThreshold: number; boxThreshold: number },
): TextBox[] {
  const seen = new Uint8Array(width * height);
  const stack = new Int32Array(width * height);
  const boxes: TextBox[] = [];
  for (let start = 0; start < probability.length; start += 1) {
    if (seen[start] || probability[start]! <= thresholds.pixelThreshold) continue;
    let top = 0;
    stack[top++] = start;
    seen[start] = 1;
    let minX = width;
    let minY = height;
    let maxX = -1;
    let maxY = -1;
    let sum = 0;
    let count = 0;
    let sx = 0;
    let sy = 0;
    let sxx = 0;
    let syy = 0;
    let sxy = 0;
    while (top > 0) {
      const index = stack[--top]!;
      const x = index % width;
      const y = (index - x) / width;
      sum += probability[index]!;
      count += 1;
      sx += x;
      sy += y;
      sxx += x * x;
      syy += y * y;
      sxy += x * y;
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
      for (let dy = -1; dy <= 1; dy += 1) {
        const ny = y + dy;
        if (ny < 0 || ny >= height) continue;
        for (let dx = -1; dx <= 1; dx += 1) {
          const nx = x + dx;
          if (nx < 0 || nx >= width) continue;
          const next = ny * width + nx;
          if (seen[next] || probability[next]! <= thresholds.pixelThreshold) continue;
          seen[next] = 1;
          stack[top++] = next;
        }
      }
    }
    const w = maxX - minX + 1;
    const h = maxY - minY + 1;
    const score = sum / count;
    if (Math.min(w, h) < 3 || score < thresholds.boxThreshold) continue;
    const grow = (1.5 * w * h) / (2 * (w + h));
    if (Math.min(w, h) + 2 * grow < 5) continue;
    const box: TextBox = {
      x0: minX - grow,
      y0: minY - grow,
      x1: maxX + 1 + grow,
      y1: maxY + 1 + grow,
      score,
    };
    const slant = slantOf(count, sx, sy, sxx, syy, sxy, grow);
    if (slant) box.slant = slant;
    boxes.push(box);
  }
  return boxes;
}

/**
 * Orientation from the component's second moments: the major axis of its pixel cloud. A filled
 * w×h rectangle has variance w²/12 along w, hence the √(12λ) extents.
 */
function slantOf(
  n: number,
  sx: number,
  sy: number,
  sxx: number,
  syy: number,
  sxy: number,
  grow: number,
): Slant | undefined {
  const mx = sx / n;
  const my = sy / n;
  const cxx = sxx / n - mx * mx;
  const cyy = syy / n - my * my;
  const cxy = sxy / n - mx * my;
  const half = Math.sqrt(((cxx - cyy) / 2) ** 2 + cxy * cxy);
  const major = (cxx + cyy) / 2 + half;
  const minor = Math.max((cxx + cyy) / 2 - half, 0.25);
  const angle = (0.5 * Math.atan2(2 * cxy, cxx - cyy) * 180) / Math.PI;
  if (major / minor < MIN_ELONGATION || Math.abs(angle) < MIN_SLANT_DEGREES) return undefined;
  return {
    angle,
    cx: mx + 0.5,
    cy: my + 0.5,
    length: Math.sqrt(12 * major) + 2 * grow,
    thickness: Math.sqrt(12 * minor) + 2 * grow,
  };
}
