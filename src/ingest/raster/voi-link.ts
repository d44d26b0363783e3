import type { WindowInfo } from '../../core/types.ts';
import type { WindowChoice } from '../display.ts';

/**
 * The VOI functions (src/ingest/voi.ts, PS3.3 C.11.2) are shared with the DICOM decoder and written
 * by its owner. Loaded lazily: only 16-bit greyscale and explicit windows need them.
 */
export interface VoiModule {
  chooseWindow(
    values: ArrayLike<number>,
    input: { choice?: WindowChoice; question?: string; dataset?: { center: number; width: number } },
  ): WindowInfo;
  applyWindow(values: ArrayLike<number>, window: WindowInfo, invert: boolean): Uint8Array;
}

export async function loadVoi(): Promise<VoiModule> {
  const spec = '../voi.ts';
  return (await import(spec)) as VoiModule;
}
