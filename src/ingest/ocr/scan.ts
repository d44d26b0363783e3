import type { BurnedInTextReport } from '../../core/types.ts';
import { AppError } from '../../errors.ts';
import { type DetectOptions, detectText, type TextBox } from './detect.ts';
import { classifyRegion, tooTallForText } from './markers.ts';
import { loadDetector, loadRecognizer } from './models.ts';
import { decodePng, encodePng, toRgb } from './raster.ts';
import { recogniseBox } from './recognize.ts';
import { redactBoxes } from './redact.ts';

export { fillBoxes } from './redact.ts';

export type BurnedInTextMode = 'redact' | 'flag' | 'refuse';

/**
 * How hard to look (the rule that picks one is scanDepth in index.ts). `full`: the detector at
 * FULL_SIDE, every candidate box read. `fast`: a detector-only pass at FAST_SCALE of the image's size
 * first; only when it finds a box that could be writing does the full scan run.
 */
export type ScanDepth = 'full' | 'fast';

/** Longest side the full scan's detector sees (PaddleOCR's det_limit_side_len default, 960). */
export const FULL_SIDE = 960;
/**
 * The fast pass's scale. The DB detector stops seeing writing below about 7 px of glyph height at
 * its input (measured on CT and MR corpus slices with planted text: 8-px type found in 5 of 5 lines
 * at 512 px, 3 of 5 at 384, none at 320), so 0.75 keeps type from 10 px up (7.5 px at the detector
 * scale) at about two thirds of the full pass's detector time on a 512-px slice. bench/ocr prints
 * the recall over the burned-in text set (test/unit/ocr/burned-in-set.ts).
 */
export const FAST_SCALE = 0.75;

export interface ScanResult {
  png: Buffer;
  report: BurnedInTextReport;
  /** Text other than position markers was found in the pixels. */
  found: boolean;
}

export interface TextScanner {
  scan(png: Uint8Array, mode: BurnedInTextMode, depth?: ScanDepth): Promise<ScanResult>;
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
    async scan(png, mode, depth = 'full') {
      const raster = await decodePng(png);
      const rgb = toRgb(raster);
      const detector = await ready();
      const fullSide = options.detect?.maxSide ?? FULL_SIDE;
      const candidates = async (maxSide: number) =>
        (await detectText(detector, rgb, { ...options.detect, maxSide })).filter(
          (box) => !tooTallForText(box, rgb.height),
        );
      if (depth === 'fast') {
        const side = Math.max(
          32,
          Math.round(Math.min(fullSide, Math.max(rgb.width, rgb.height)) * FAST_SCALE),
        );
        if ((await candidates(side)).length === 0) {
          return { png: Buffer.from(png), report: { regions: 0, redacted: 0, keptMarkers: 0 }, found: false };
        }
      }
      // Boxes too tall to be writing are noise whatever they read as (classifyRegion): not read at all.
      const boxes = await candidates(fullSide);
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
