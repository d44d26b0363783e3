import type { BurnedInTextReport } from '../../core/types.ts';
import { AppError } from '../../errors.ts';
import { type DetectOptions, detectText, type TextBox } from './detect.ts';
import { classifyRegion } from './markers.ts';
import { loadDetector, loadRecognizer } from './models.ts';
import { decodePng, encodePng, type Raster, toRgb } from './raster.ts';
import { recogniseBox } from './recognize.ts';

export type BurnedInTextMode = 'redact' | 'flag' | 'refuse';

export interface ScanResult {
  png: Buffer;
  report: BurnedInTextReport;
  /** Text other than position markers was found in the pixels. */
  found: boolean;
}

export interface TextScanner {
  scan(png: Uint8Array, mode: BurnedInTextMode): Promise<ScanResult>;
  /** Start loading the models now (they otherwise load on the first scan); failures surface there. */
  warm(): void;
}

/**
 * In-process scanner (the worker in worker.ts owns one). Recognised text lives only in locals here:
 * it decides whether a box is a position marker and is then dropped; only counts leave.
 */
export function createTextScanner(options: { threads?: number; detect?: DetectOptions } = {}): TextScanner {
  // Loaded separately and lazily: an image without text (most CT, MR, X-ray) never needs the recogniser.
  let detector: ReturnType<typeof loadDetector> | undefined;
  let recognizer: ReturnType<typeof loadRecognizer> | undefined;
  const ready = () => {
    detector ??= loadDetector({ threads: options.threads });
    return detector;
  };
  const reader = () => {
    recognizer ??= loadRecognizer({ threads: options.threads });
    return recognizer;
  };

  return {
    warm() {
      ready().catch(() => undefined);
    },
    async scan(png, mode) {
      const raster = await decodePng(png);
      const rgb = toRgb(raster);
      const boxes = await detectText(await ready(), rgb, options.detect);
      const text: TextBox[] = [];
      let keptMarkers = 0;
      const loaded = boxes.length > 0 ? await reader() : undefined;
      for (const box of boxes) {
        const line = await recogniseBox(loaded!.recognizer, loaded!.dictionary, rgb, box);
        const kind = classifyRegion({ ...line, box, imageHeight: rgb.height });
        if (kind === 'marker') keptMarkers += 1;
        else if (kind === 'text') text.push(box);
      }
      const regions = text.length + keptMarkers;
      const found = text.length > 0;
      if (mode === 'refuse' && found) {
        throw new AppError('BURNED_IN_TEXT', 'text found in image pixels (BURNED_IN_TEXT=refuse)', {
          details: { regions, keptMarkers },
        });
      }
      const redact = mode === 'redact' && found;
      const report: BurnedInTextReport = {
        regions,
        redacted: redact ? text.length : 0,
        keptMarkers,
      };
      // Unchanged input is handed back as the same bytes: no re-encode, no drift in the image hash.
      const out = redact ? await encodePng(fillBoxes(raster, text)) : Buffer.from(png);
      return { png: out, report, found };
    },
  };
}

/** Fill boxes, padded a little beyond the glyphs (anti-aliased edges, halos), with opaque black. */
export function fillBoxes(raster: Raster, boxes: readonly TextBox[]): Raster {
  const { width, height, channels } = raster;
  const data = new Uint8Array(raster.data);
  const alpha = channels === 2 || channels === 4;
  for (const box of boxes) {
    const pad = Math.max(2, Math.round((box.y1 - box.y0) * 0.2));
    const x0 = Math.max(0, Math.floor(box.x0) - pad);
    const y0 = Math.max(0, Math.floor(box.y0) - pad);
    const x1 = Math.min(width, Math.ceil(box.x1) + pad);
    const y1 = Math.min(height, Math.ceil(box.y1) + pad);
    for (let y = y0; y < y1; y += 1) {
      const row = y * width;
      for (let x = x0; x < x1; x += 1) {
        const i = (row + x) * channels;
        data.fill(0, i, i + channels);
        if (alpha) data[i + channels - 1] = 255;
      }
    }
  }
  return { ...raster, data };
}
