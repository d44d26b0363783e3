import type { Config } from '../../config.ts';
import type { StudyOptions } from './index.ts';

/** The study limits from the configuration: STUDY_MAX_IMAGES, STUDY_MAX_TOKENS, MAX_IMAGE_SIZE, caps. */
export function studyOptions(config: Config): StudyOptions {
  return {
    maxImages: config.STUDY_MAX_IMAGES,
    maxTokens: config.STUDY_MAX_TOKENS,
    maxSide: config.MAX_IMAGE_SIZE,
    maxBytes: config.MAX_UPLOAD_MB * 1024 * 1024,
    burnedInText: config.BURNED_IN_TEXT,
  };
}
