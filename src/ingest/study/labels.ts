import type { SafeImageMeta, WindowInfo } from '../../core/types.ts';

/**
 * The line that tells the model (and the clinician, on the card) which image is which: "Image 2 of 3:
 * lateral view, CR". Built from the allow-listed facts (SafeImageMeta), the slice position and the
 * window only; never a file name, a date or anything else from a header.
 */

export type StudyRole = 'current' | 'prior';

export interface LabelFacts {
  meta: SafeImageMeta;
  window?: WindowInfo;
  /** "slice 38 of 100" or "frame 3 of 8". */
  position?: string;
  role?: StudyRole;
  /** Show the window name even when it is the file's own (set when the study shows several windows). */
  nameWindow?: boolean;
}

/** View Position (0018,5101) codes, PS3.3 C.8.11.5.1.1 (DX) and the CR defined terms. */
const VIEWS: Record<string, string> = {
  PA: 'PA view',
  AP: 'AP view',
  LL: 'left lateral view',
  RL: 'right lateral view',
  LAT: 'lateral view',
  LATERAL: 'lateral view',
  RLD: 'right lateral decubitus view',
  LLD: 'left lateral decubitus view',
  RLO: 'right lateral oblique view',
  LLO: 'left lateral oblique view',
  CC: 'craniocaudal view',
  MLO: 'mediolateral oblique view',
};

const SIDES: Record<string, string> = { L: 'left', R: 'right', B: 'both sides' };

/** How a window reads on a label: the preset's name, else centre/width. */
export function windowName(window: WindowInfo): string | undefined {
  if (window.source === 'none') return undefined;
  if (window.preset === 'mediastinum') return 'mediastinal window';
  if (window.preset) return `${window.preset} window`;
  return `window ${Math.round(window.center)}/${Math.round(window.width)}`;
}

export function imageDescription(facts: LabelFacts): string {
  const parts: string[] = [];
  if (facts.role === 'prior') parts.push('prior, posted earlier in this thread');
  if (facts.role === 'current') parts.push('current');
  const view = facts.meta.viewPosition?.toUpperCase();
  if (view) parts.push(VIEWS[view] ?? `${view} view`);
  const side = facts.meta.laterality ? SIDES[facts.meta.laterality] : undefined;
  if (side) parts.push(side);
  if (facts.position) parts.push(facts.position);
  const shownWindow =
    facts.window && (facts.nameWindow || facts.window.source === 'preset' || facts.window.source === 'user');
  const name = shownWindow && facts.window ? windowName(facts.window) : undefined;
  if (name) parts.push(name);
  if (facts.meta.modality) parts.push(facts.meta.modality.toUpperCase());
  return parts.join(', ');
}

/** "Image 2 of 3: lateral view, CR" (or "Image 2 of 3" when nothing is known). */
export function imageLabel(index: number, total: number, facts: LabelFacts): string {
  const description = imageDescription(facts);
  return `Image ${index + 1} of ${total}${description ? `: ${description}` : ''}`;
}
