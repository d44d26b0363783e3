import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import type { Slant, TextBox } from './detect.ts';
import type { Raster } from './raster.ts';

const LINE_HEIGHT = 48; // PP-OCRv4 rec input height
const MAX_LINE_WIDTH = 48 * 40; // long lines are squeezed rather than cost unbounded time

export interface RecognisedLine {
  /** Recognised text. Stays inside the OCR worker: never logged, stored, returned or sent. */
  text: string;
  /** Mean probability of the emitted characters, 0..1 (0 when nothing was read). */
  confidence: number;
}

/**
 * Recognise one detected box (PP-OCRv4 SVTR + CTC greedy decoding, as @gutenye/ocr-common does).
 * Slanted writing is turned level first, both ways round (the angle cannot tell up from down), and
 * the surer reading wins.
 */
export async function recogniseBox(
  session: ort.InferenceSession,
  dictionary: readonly string[],
  rgb: Raster,
  box: TextBox,
): Promise<RecognisedLine> {
  if (box.slant) {
    const first = await recogniseLine(session, dictionary, await levelCrop(rgb, box.slant, 0));
    const second = await recogniseLine(session, dictionary, await levelCrop(rgb, box.slant, 180));
    return second.confidence > first.confidence ? second : first;
  }
  const left = Math.max(0, Math.floor(box.x0));
  const top = Math.max(0, Math.floor(box.y0));
  const width = Math.min(rgb.width, Math.ceil(box.x1)) - left;
  const height = Math.min(rgb.height, Math.ceil(box.y1)) - top;
  if (width < 2 || height < 2) return { text: '', confidence: 0 };
  const crop = await sharp(rgb.data, { raw: { width: rgb.width, height: rgb.height, channels: 3 } })
    .extract({ left, top, width, height })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return recogniseLine(session, dictionary, crop);
}

type RawCrop = { data: Buffer; info: { width: number; height: number } };

/** A square around the slanted line (black beyond the image), rotated level, cut to the line. */
async function levelCrop(rgb: Raster, slant: Slant, extraTurn: number): Promise<RawCrop> {
  const side = Math.max(4, Math.ceil(Math.max(slant.length, slant.thickness)) + 4);
  const x0 = Math.round(slant.cx - side / 2);
  const y0 = Math.round(slant.cy - side / 2);
  const square = Buffer.alloc(side * side * 3);
  for (let y = 0; y < side; y += 1) {
    const sy = y0 + y;
    if (sy < 0 || sy >= rgb.height) continue;
    for (let x = 0; x < side; x += 1) {
      const sx = x0 + x;
      if (sx < 0 || sx >= rgb.width) continue;
      const i = (sy * rgb.width + sx) * 3;
      square[(y * side + x) * 3] = rgb.data[i]!;
      square[(y * side + x) * 3 + 1] = rgb.data[i + 1]!;
      square[(y * side + x) * 3 + 2] = rgb.data[i + 2]!;
    }
  }
  // sharp turns clockwise for positive angles; the slant is measured clockwise, so undo it.
  const turned = await sharp(square, { raw: { width: side, height: side, channels: 3 } })
    .rotate(-slant.angle + extraTurn, { background: { r: 0, g: 0, b: 0 } })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const width = Math.min(turned.info.width, Math.max(2, Math.round(slant.length)));
  const height = Math.min(turned.info.height, Math.max(2, Math.round(slant.thickness)));
  return sharp(turned.data, { raw: { width: turned.info.width, height: turned.info.height, channels: 3 } })
    .extract({
      left: Math.floor((turned.info.width - width) / 2),
      top: Math.floor((turned.info.height - height) / 2),
      width,
      height,
    })
    .raw()
    .toBuffer({ resolveWithObject: true });
}

async function recogniseLine(
  session: ort.InferenceSession,
  dictionary: readonly string[],
  crop: RawCrop,
): Promise<RecognisedLine> {
  const { width, height } = crop.info;
  const lineWidth = Math.max(16, Math.min(MAX_LINE_WIDTH, Math.round((width * LINE_HEIGHT) / height)));
  const line = await sharp(crop.data, { raw: { width, height, channels: 3 } })
    .resize(lineWidth, LINE_HEIGHT, { fit: 'fill' })
    .raw()
    .toBuffer();
  const plane = lineWidth * LINE_HEIGHT;
  const input = new Float32Array(plane * 3);
  for (let p = 0, i = 0; p < plane; p += 1, i += 3) {
    input[p] = line[i + 2]! / 255;
    input[plane + p] = line[i + 1]! / 255;
    input[2 * plane + p] = line[i]! / 255;
  }
  const feeds = {
    [session.inputNames[0]!]: new ort.Tensor('float32', input, [1, 3, LINE_HEIGHT, lineWidth]),
  };
  const output = (await session.run(feeds))[session.outputNames[0]!]!;
  return ctcGreedyDecode(output.data as Float32Array, output.dims, dictionary);
}

/** CTC greedy decoding: arg-max per step, drop repeats, then drop the blank (class 0). */
export function ctcGreedyDecode(
  scores: Float32Array,
  dims: readonly number[],
  dictionary: readonly string[],
): RecognisedLine {
  const steps = dims[1] ?? 0;
  const classes = dims[2] ?? 0;
  let text = '';
  let sum = 0;
  let count = 0;
  let previous = -1;
  for (let t = 0; t < steps; t += 1) {
    let best = 0;
    let bestScore = Number.NEGATIVE_INFINITY;
    const base = t * classes;
    for (let c = 0; c < classes; c += 1) {
      const value = scores[base + c]!;
      if (value > bestScore) {
        bestScore = value;
        best = c;
      }
    }
    if (best !== 0 && best !== previous) {
      text += dictionary[best - 1] ?? '';
      sum += bestScore;
      count += 1;
    }
    previous = best;
  }
  return { text, confidence: count === 0 ? 0 : sum / count };
}
