import { createHash } from 'node:crypto';
import type { InferenceInput, PreparedImage } from '../core/types.ts';
import { AppError, isAppError } from '../errors.ts';
import { fitPng } from '../ingest/fit-png.ts';
import type { Logger } from '../log.ts';

/**
 * The out-of-memory ladder. A server that runs out of GPU memory, or whose max_model_len the image
 * tokens overflow, gets the same image again at 0.75× the longest side, until it fits or the image is
 * at the floor. Sizes strictly decrease — the same size is never sent twice — so the ladder ends after
 * at most log(max/floor)/log(4/3) steps (1024 → 256 px: 5 steps).
 */

export const LADDER_STEP = 0.75;
export const LADDER_FLOOR_PX = 256;

export interface LadderOutcome<T> {
  value: T;
  image: PreparedImage;
  /** Set when the image that worked is not the one given. */
  downscaled?: { width: number; height: number; tokens: number };
}

async function shrink(input: InferenceInput, maxSide: number): Promise<PreparedImage> {
  if (input.refit) return input.refit(maxSide);
  const fitted = await fitPng(input.image.png, maxSide);
  return {
    ...input.image,
    png: fitted.png,
    width: fitted.width,
    height: fitted.height,
    tokens: fitted.tokens,
    sha256: createHash('sha256').update(fitted.png).digest('hex'),
  };
}

/**
 * The input one ladder step smaller (0.75× the longest side, on the model's grid), or undefined when that
 * would go below the floor. Used after the engine process died under a read: the retry goes smaller.
 */
export async function smallerInput(
  input: InferenceInput,
  floorPx: number = LADDER_FLOOR_PX,
): Promise<InferenceInput | undefined> {
  const side = Math.max(input.image.width, input.image.height);
  const target = Math.floor(side * LADDER_STEP);
  if (target < floorPx) return undefined;
  const image = await shrink(input, target);
  if (Math.max(image.width, image.height) >= side) return undefined;
  return { ...input, image };
}

export async function withImageLadder<T>(
  input: InferenceInput,
  attempt: (image: PreparedImage) => Promise<T>,
  deps: { logger: Logger; floorPx?: number; signal: AbortSignal },
): Promise<LadderOutcome<T>> {
  const floor = deps.floorPx ?? LADDER_FLOOR_PX;
  let image = input.image;
  const tried: number[] = [];
  for (;;) {
    const side = Math.max(image.width, image.height);
    tried.push(side);
    try {
      const value = await attempt(image);
      const downscaled =
        image === input.image
          ? undefined
          : { width: image.width, height: image.height, tokens: image.tokens };
      return { value, image, ...(downscaled ? { downscaled } : {}) };
    } catch (error) {
      if (!isAppError(error, 'ENGINE_OUT_OF_MEMORY')) throw error;
      if (deps.signal.aborted) throw new AppError('CANCELLED', 'cancelled during the out-of-memory ladder');
      let target = Math.floor(side * LADDER_STEP);
      let next: PreparedImage | undefined;
      // Rounding to the 32-px grid can land on a size already tried: step on down until it is new.
      while (target >= floor) {
        const candidate = await shrink(input, target);
        const candidateSide = Math.max(candidate.width, candidate.height);
        if (candidateSide < Math.min(...tried)) {
          next = candidate;
          break;
        }
        target = Math.floor(Math.min(target, candidateSide) * LADDER_STEP);
      }
      if (!next) {
        throw new AppError('IMAGE_TOO_LARGE_FOR_ENGINE', `out of memory down to ${Math.min(...tried)} px`, {
          cause: error,
          details: { triedSides: tried, floorPx: floor },
        });
      }
      deps.logger.warn(
        { from: side, to: Math.max(next.width, next.height) },
        'engine out of memory; retrying smaller',
      );
      image = next;
    }
  }
}
