import type * as ort from 'onnxruntime-node';
import { detectText, type TextBox } from './detect.ts';
import { isPositionMarker, SHORT_TEXT_MIN_CONFIDENCE, TEXT_MIN_CONFIDENCE } from './markers.ts';
import { cropRaster, type Raster, toRgb } from './raster.ts';
import { type RecognisedLine, recogniseBox } from './recognize.ts';
import { fillRect, foreignInk, type Rect } from './spare.ts';

/**
 * Fill boxes, padded a little beyond the glyphs (see fillRect), with opaque black. Where `spare`
 * gives a mask for a box (1 = keep; see foreignInk), those pixels keep their values.
 */
export function fillBoxes(
  raster: Raster,
  boxes: readonly TextBox[],
  spare: ReadonlyMap<TextBox, Uint8Array> = new Map(),
): Raster {
  const { width, height, channels } = raster;
  const data = new Uint8Array(raster.data);
  const alpha = channels === 2 || channels === 4;
  for (const box of boxes) {
    const { x0, y0, x1, y1 } = fillRect(box, width, height);
    const keep = spare.get(box);
    for (let y = y0; y < y1; y += 1) {
      const row = y * width;
      for (let x = x0; x < x1; x += 1) {
        if (keep?.[(y - y0) * (x1 - x0) + (x - x0)]) continue;
        const i = (row + x) * channels;
        data.fill(0, i, i + channels);
        if (alpha) data[i + channels - 1] = 255;
      }
    }
  }
  return { ...raster, data };
}

export interface RedactModels {
  detector: ort.InferenceSession;
  recognizer: ort.InferenceSession;
  dictionary: readonly string[];
}

/**
 * Black out the text boxes, sparing shapes that only reach into a box from outside (a lead
 * marker's foot beside vertical initials, see foreignInk). Fails closed: around everything spared
 * the result is searched for text again (a more sensitive detector pass, as the tests use), and if
 * anything readable other than a position marker is there, that box is filled whole.
 */
export async function redactBoxes(
  raster: Raster,
  boxes: readonly TextBox[],
  models: RedactModels,
): Promise<Raster> {
  const spare = new Map<TextBox, Uint8Array>();
  const extents = new Map<TextBox, Rect>();
  for (const box of boxes) {
    const spared = foreignInk(raster, box, fillRect(box, raster.width, raster.height));
    if (!spared) continue;
    spare.set(box, spared.keep);
    extents.set(box, spared.extent);
  }
  const filled = fillBoxes(raster, boxes, spare);
  if (spare.size === 0) return filled;
  const rgb = toRgb(filled);
  let leaked = false;
  for (const [box, extent] of extents) {
    if (await readableAround(rgb, box, extent, models)) {
      spare.delete(box);
      leaked = true;
    }
  }
  return leaked ? fillBoxes(raster, boxes, spare) : filled;
}

/** Readable, non-marker text in (or reaching into) the area around a box after the fill. */
async function readableAround(
  rgb: Raster,
  box: TextBox,
  extent: Rect,
  models: RedactModels,
): Promise<boolean> {
  if (leaks(await recogniseBox(models.recognizer, models.dictionary, rgb, box))) return true;
  const margin = Math.ceil(Math.max(8, box.slant?.thickness ?? Math.min(box.x1 - box.x0, box.y1 - box.y0)));
  const crop = cropRaster(rgb, {
    x0: Math.max(0, extent.x0 - margin),
    y0: Math.max(0, extent.y0 - margin),
    x1: Math.min(rgb.width, extent.x1 + margin),
    y1: Math.min(rgb.height, extent.y1 + margin),
  });
  for (const found of await detectText(models.detector, crop, { boxThreshold: 0.3 })) {
    if (leaks(await recogniseBox(models.recognizer, models.dictionary, crop, found))) return true;
  }
  return false;
}

function leaks(line: RecognisedLine): boolean {
  const characters = line.text.replace(/[^\p{L}\p{N}]/gu, '').length;
  const needed = characters < 3 ? SHORT_TEXT_MIN_CONFIDENCE : TEXT_MIN_CONFIDENCE;
  return characters > 0 && line.confidence >= needed && !isPositionMarker(line.text, line.confidence);
}
