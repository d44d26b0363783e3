import { AppError } from '../errors.ts';
import type { StoredJob } from '../store/types.ts';
import type { JobDeps } from './job-deps.ts';
import { createJobStudies } from './job-study.ts';
import { notes, refusals } from './reply.ts';
import type { InferenceInput, PreparedImage } from './types.ts';

/** Asked when a request came with an image and no words. */
export const defaultQuestion = 'Describe the findings in this image.';
/** Earlier turns sent with a follow-up (and kept per thread). */
export const maxHistoryTurns = 12;

/**
 * A job's image: downloaded and prepared once (or the thread's stored image for a follow-up), kept in
 * the store so a restart or a follow-up never downloads it again.
 */
export function createJobImages(deps: JobDeps) {
  const { store, config } = deps;
  const iso = () => new Date(deps.clock()).toISOString();
  const { prepareStudyImages, loadStudy } = createJobStudies(deps);

  async function prepareImage(job: StoredJob, signal: AbortSignal): Promise<string> {
    const attachment = job.request?.attachments[0];
    if (!attachment) {
      const thread = await store.getThread(job.threadKey);
      const ref = job.imageRef ?? thread?.imageRef;
      if (ref && (await store.loadImage(ref))) return ref;
      throw new AppError('INPUT_UNSUPPORTED', 'thread image gone', {
        userMessage: refusals.threadImageGone,
      });
    }
    if (job.imageRef && (await store.loadImage(job.imageRef))) return job.imageRef;
    // Every attachment of the message (and the thread's earlier image) as one study (issue 17).
    if (deps.prepareStudy) return prepareStudyImages(job, signal, (image) => checkImage(job, image));
    const adapter = deps.adapterFor(job.platform);
    if (!adapter) throw new AppError('INTERNAL', `no adapter for ${job.platform}`);
    if (!deps.prepare) throw new AppError('INTERNAL', 'no image pipeline configured');
    const bytes = await adapter.download(attachment, signal);
    const image = await deps.prepare(bytes, {
      maxSide: config.MAX_IMAGE_SIZE,
      question: job.request?.question ?? '',
      maxBytes: config.MAX_UPLOAD_MB * 1024 * 1024,
      burnedInText: config.BURNED_IN_TEXT,
      ...(job.platform === 'slack' || job.platform === 'discord' || job.platform === 'console'
        ? { source: job.platform }
        : {}),
    });
    await checkImage(job, image);
    const ref = await store.saveImage(image);
    await store.updateJob(job.id, { imageRef: ref, imageSha256: image.sha256 });
    await store.updateThread(job.threadKey, (thread) =>
      thread ? { ...thread, imageRef: ref, lastActivityAt: iso() } : undefined,
    );
    return ref;
  }

  async function checkImage(job: StoredJob, image: PreparedImage): Promise<void> {
    // Discord has no BAA (DISCORD_PHI=refuse): a DICOM whose header still named the patient is refused
    // even though de-identification removed it, because the original already crossed Discord.
    if (
      job.platform === 'discord' &&
      config.DISCORD_PHI === 'refuse' &&
      image.source.kind === 'dicom' &&
      image.deid.identityPresent
    ) {
      throw new AppError('PHI_PRESENT', 'identified DICOM posted on Discord', {
        userMessage: refusals.identifiedDicomOnDiscord,
      });
    }
    await tellPosterAboutFlaggedText(job, image);
  }

  /**
   * BURNED_IN_TEXT=flag keeps the pixels, so the poster alone is told (privately: the thread may be
   * busy) that the image carries text in its pixels. Best effort: a failed notice never fails the read.
   */
  async function tellPosterAboutFlaggedText(job: StoredJob, image: PreparedImage): Promise<void> {
    const report = image.deid.burnedInText;
    if (config.BURNED_IN_TEXT !== 'flag' || !report || report.regions <= report.keptMarkers) return;
    const adapter = deps.adapterFor(job.platform);
    if (!adapter?.notifyPrivately) return;
    const notice = notes.burnedInTextFlagged(report.regions - report.keptMarkers);
    await adapter.notifyPrivately(job.thread, job.userId, notice).catch((error: unknown) => {
      deps.logger.warn({ err: error, job: job.id }, 'private burned-in text notice failed');
    });
  }

  async function buildInput(job: StoredJob, ref: string): Promise<InferenceInput> {
    const image = await store.loadImage(ref);
    if (!image) throw new AppError('INTERNAL', 'prepared image missing');
    const thread = await store.getThread(job.threadKey);
    const history = job.isFollowUp ? (thread?.turns ?? []).slice(-maxHistoryTurns) : [];
    const question = job.request?.question.trim() || defaultQuestion;
    // A study (several images, or a prior) is read whole, follow-ups included.
    const study = (await loadStudy(job))?.images ?? [];
    const several = study.length > 1 ? { image: study[0]!, study } : {};
    return { image, question, history, temperature: config.TEMPERATURE, ...several };
  }

  return { prepareImage, buildInput, loadStudy };
}
