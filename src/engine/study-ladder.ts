import type { StudyImage } from '../core/types.ts';
import { AppError, isAppError } from '../errors.ts';
import { shrinkPrepared } from '../ingest/fit-png.ts';
import type { Logger } from '../log.ts';
import { LADDER_FLOOR_PX, LADDER_STEP } from './ladder.ts';

/**
 * The out-of-memory ladder for a study (see ladder.ts): the whole study shrinks together, every image
 * to the same smaller longest side (0.75× the largest one's), so the request gets smaller at each step
 * and no image is dropped. Sizes strictly decrease; below the floor it stops with
 * IMAGE_TOO_LARGE_FOR_ENGINE.
 */

export interface StudyLadderOutcome<T> {
  value: T;
  images: StudyImage[];
  /** Set when the images that worked are not the ones given. */
  downscaled?: { width: number; height: number; tokens: number };
}

const longest = (images: readonly StudyImage[]) =>
  Math.max(...images.map((i) => Math.max(i.width, i.height)));

const shrinkAll = (images: readonly StudyImage[], side: number): Promise<StudyImage[]> =>
  Promise.all(images.map((image) => shrinkPrepared(image, side)));

export async function withStudyLadder<T>(
  study: readonly StudyImage[],
  attempt: (images: StudyImage[]) => Promise<T>,
  deps: { logger: Logger; floorPx?: number; signal: AbortSignal },
): Promise<StudyLadderOutcome<T>> {
  const floor = deps.floorPx ?? LADDER_FLOOR_PX;
  let images = [...study];
  for (;;) {
    const side = longest(images);
    try {
      const value = await attempt(images);
      if (images.every((image, i) => image === study[i])) return { value, images };
      // The largest image's size stands for the study; the tokens are the whole study's.
      const largest = images.find((image) => Math.max(image.width, image.height) === side)!;
      const tokens = images.reduce((sum, image) => sum + image.tokens, 0);
      return { value, images, downscaled: { width: largest.width, height: largest.height, tokens } };
    } catch (error) {
      if (!isAppError(error, 'ENGINE_OUT_OF_MEMORY')) throw error;
      if (deps.signal.aborted) throw new AppError('CANCELLED', 'cancelled during the out-of-memory ladder');
      let target = Math.floor(side * LADDER_STEP);
      let next: StudyImage[] | undefined;
      // The 32-px grid can round a step back to the same size: step on down until the study is smaller.
      while (target >= floor) {
        const candidate = await shrinkAll(study, target);
        if (longest(candidate) < side) {
          next = candidate;
          break;
        }
        target = Math.floor(target * LADDER_STEP);
      }
      if (!next) {
        throw new AppError('IMAGE_TOO_LARGE_FOR_ENGINE', `study out of memory down to ${side} px`, {
          cause: error,
          details: { sidePx: side, floorPx: floor, images: study.length },
        });
      }
      deps.logger.warn(
        { from: side, to: longest(next), images: next.length },
        'engine out of memory; retrying the study smaller',
      );
      images = next;
    }
  }
}
