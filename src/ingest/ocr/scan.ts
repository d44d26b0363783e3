import type { BurnedInTextReport } from '../../core/types.ts';
import { AppError } from '../../errors.ts';
import { type DetectOptions, detectText, type TextBox } from './detect.ts';
import { classifyRegion } from './markers.ts';
import { loadDetector, loadRecognizer } from './models.ts';
import { decodePng, encodePng, toRgb } from './raster.ts';
import { recogniseBox } from './recognize.ts';
import { redactBoxes } from './redact.ts';

export { fillBoxes } from './redact.ts';

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
      const out = redact
        ? await encodePng(await redactBoxes(raster, text, { detector: await ready(), ...(await reader()) }))
        : Buffer.from(png);
      return { png: out, report, found };
    },
  };
}
