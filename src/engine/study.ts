import { createHash } from 'node:crypto';
import type { InferenceInput, PreparedImage, StudyImage, StudyImageSummary } from '../core/types.ts';
import { composeMontage } from '../ingest/study/montage.ts';
import { knownFacts } from './facts.ts';
import { type PromptSet, renderPrompt } from './prompts.ts';

/**
 * What every engine shares for a study read (issue 17): the facts and the user turn that name each
 * image, the montage for engines that take one image, and the per-image summary a result carries.
 * Labels come from ingest (src/ingest/study/labels.ts): allow-listed facts only.
 */

/** The study's images when there are several; a single image reads as before. */
export function studyOf(input: InferenceInput): StudyImage[] | undefined {
  return input.study && input.study.length > 1 ? input.study : undefined;
}

const indent = (text: string) =>
  text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');

/**
 * The known facts of every image under its label. On a montage the tiles are rescaled and
 * letterboxed, so no pixel spacing is given: the model is told sizes are unknown rather than given
 * a wrong scale.
 */
export function studyFacts(images: readonly StudyImage[], tiled = false): string {
  return images
    .map((image) => {
      const { pixelSpacingMm: _spacing, ...unscaled } = image.meta;
      const facts = knownFacts(tiled ? { ...image, meta: unscaled } : image);
      return `${image.label}\n${indent(facts)}`;
    })
    .join('\n');
}

/** What the model is told about the study before the question: how many images, how laid out, a prior. */
export function studyText(prompts: PromptSet, images: readonly StudyImage[], tiled = false): string {
  const prior = images.findIndex((image) => image.role === 'prior');
  const current = images.findIndex((image) => image.role !== 'prior');
  const comparison =
    prior >= 0
      ? `Image ${prior + 1} is a prior image of the same patient, posted earlier in this thread (its date is not known). Compare image ${current + 1} (current) with it and describe interval change: new, resolved, larger, smaller or unchanged.`
      : '';
  return renderPrompt(prompts, 'study', {
    count: String(images.length),
    layout: tiled
      ? 'are tiled in the attached picture, left to right and top to bottom, each under its label, and'
      : 'attached above, each after its label,',
    comparison,
  }).trim();
}

/**
 * For an engine that takes one image (visualqa, onnx): the study's montage stands in as the image.
 * The refit hook is dropped, so the out-of-memory ladder shrinks the montage: the whole study at once.
 */
export async function asMontage(
  input: InferenceInput,
  maxSide: number,
): Promise<{ input: InferenceInput; images?: StudyImage[] }> {
  const images = studyOf(input);
  if (!images) return { input };
  const { refit: _refit, ...rest } = input;
  return { input: { ...rest, image: await montageImage(images, montageSide(images, maxSide)) }, images };
}

/** The montage's longest side: each tile at about its own size, within MAX_IMAGE_SIZE (never upscaled). */
export function montageSide(images: readonly StudyImage[], maxSide: number): number {
  const tile = Math.max(...images.map((image) => Math.max(image.width, image.height)));
  return Math.min(maxSide, tile * Math.ceil(Math.sqrt(images.length)));
}

/** One picture of the whole study, for an engine that takes a single image (visualqa, onnx). */
export async function montageImage(images: readonly StudyImage[], maxSide: number): Promise<PreparedImage> {
  const montage = await composeMontage(
    images.map((image) => ({ png: image.png, label: image.label })),
    maxSide,
  );
  const first = images[0]!;
  const { pixelSpacingMm: _spacing, ...meta } = first.meta;
  return {
    ...first,
    png: montage.png,
    width: montage.width,
    height: montage.height,
    tokens: montage.tokens,
    sha256: createHash('sha256').update(montage.png).digest('hex'),
    meta,
    source: { ...first.source, rows: montage.height, columns: montage.width },
  };
}

export function summarizeStudy(images: readonly StudyImage[]): StudyImageSummary[] {
  return images.map((image) => ({
    label: image.label,
    width: image.width,
    height: image.height,
    tokens: image.tokens,
    window: {
      center: image.window.center,
      width: image.window.width,
      source: image.window.source,
      ...(image.window.preset ? { preset: image.window.preset } : {}),
    },
  }));
}
