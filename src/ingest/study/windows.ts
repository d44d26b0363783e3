import type { SafeImageMeta, WindowInfo } from '../../core/types.ts';
import { presetFromQuestion, type WindowChoice, type WindowPreset, windowPresets } from '../voi.ts';

/**
 * Which windows a study shows. A window the clinician asked for (`--window`, or a preset named in the
 * question: src/ingest/voi.ts) is the one used. A chest CT with no window asked is shown twice, in the
 * lung and the mediastinal window, as a radiologist reads it: one window hides what the other shows.
 */

const CHEST = /chest|thorax|lung/i;
const NOT_CHEST = /head|brain|skull|abdom|pelvi|liver|kidney|spine|extremit|knee|hip/i;

export const CHEST_CT_WINDOWS: readonly WindowPreset[] = ['lung', 'mediastinum'];

export function wantsChestWindows(
  meta: SafeImageMeta,
  question: string,
  window: WindowChoice | undefined,
): boolean {
  if (meta.modality?.toUpperCase() !== 'CT') return false;
  if (window !== undefined && window !== 'auto') return false;
  if (presetFromQuestion(question) !== undefined) return false;
  if (meta.bodyPart !== undefined) return CHEST.test(meta.bodyPart);
  return !NOT_CHEST.test(question);
}

/** The window record of a chest CT image shown in one of the two windows (source 'preset', with why). */
export function chestWindow(preset: WindowPreset): WindowInfo {
  return {
    ...windowPresets[preset],
    source: 'preset',
    preset,
    reason: 'chest CT with no window asked: shown in the lung and the mediastinal window',
  };
}
