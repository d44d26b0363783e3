import { AppError } from '../errors.ts';
import type { StoredJob, StoredStudy, StoredThread } from '../store/types.ts';
import type { JobDeps } from './job-deps.ts';
import { refusals } from './reply.ts';
import type { PreparedImage, StudyImage } from './types.ts';

/**
 * A chat message's images as one study (issue 17): every attachment, in the order posted, plus the
 * thread's earlier image as the prior when a new image arrives in a thread that was already read
 * (labelled "prior, posted earlier in this thread": no date is ever sent). Each image is stored on its
 * own; the job and the thread keep the list, so a restart or a follow-up reads the whole study again.
 */

/** The image a new upload is compared with: the current image of the thread's last read. */
export function priorRefOf(thread: StoredThread | undefined): string | undefined {
  return thread?.study?.images.find((image) => image.role !== 'prior')?.ref ?? thread?.imageRef;
}

export function createJobStudies(ctx: JobDeps) {
  const { store, config } = ctx;
  const iso = () => new Date(ctx.clock()).toISOString();

  /** Download, prepare and store every image of the job; returns the first image's ref. */
  async function prepareStudyImages(
    job: StoredJob,
    signal: AbortSignal,
    check: (image: PreparedImage) => Promise<void>,
  ): Promise<string> {
    const adapter = ctx.adapterFor(job.platform);
    if (!adapter) throw new AppError('INTERNAL', `no adapter for ${job.platform}`);
    if (!ctx.prepareStudy) throw new AppError('INTERNAL', 'no study pipeline configured');
    const downloads: Uint8Array[] = [];
    for (const attachment of job.request?.attachments ?? [])
      downloads.push(await adapter.download(attachment, signal));
    const thread = await store.getThread(job.threadKey);
    const priorRef = priorRefOf(thread);
    const prior = priorRef ? await store.loadImage(priorRef) : undefined;
    const study = await ctx.prepareStudy(
      [
        ...downloads.map((bytes) => ({ bytes, ...(prior ? { role: 'current' as const } : {}) })),
        ...(prior ? [{ prepared: prior, role: 'prior' as const }] : []),
      ],
      {
        question: job.request?.question ?? '',
        maxImages: config.STUDY_MAX_IMAGES,
        maxTokens: config.STUDY_MAX_TOKENS,
        maxSide: config.MAX_IMAGE_SIZE,
        maxBytes: config.MAX_UPLOAD_MB * 1024 * 1024,
        burnedInText: config.BURNED_IN_TEXT,
      },
    );
    if (!study.images.some((image) => image.role !== 'prior')) {
      throw new AppError('INPUT_UNSUPPORTED', 'no new image in the study', { userMessage: study.notes[0] });
    }
    for (const image of study.images) if (image.role !== 'prior') await check(image);
    const refs = await Promise.all(study.images.map((image) => store.saveImage(image)));
    const stored: StoredStudy | undefined =
      study.images.length > 1 || study.notes.length > 0
        ? {
            images: study.images.map((image, i) => ({
              ref: refs[i]!,
              label: image.label,
              ...(image.role ? { role: image.role } : {}),
            })),
            notes: study.notes,
          }
        : undefined;
    const first = refs[0]!;
    await store.updateJob(job.id, {
      imageRef: first,
      imageSha256: study.images[0]!.sha256,
      ...(stored ? { study: stored } : {}),
    });
    await store.updateThread(job.threadKey, (current) => {
      if (!current) return undefined;
      const { study: _previous, ...rest } = current;
      return { ...rest, imageRef: first, ...(stored ? { study: stored } : {}), lastActivityAt: iso() };
    });
    return first;
  }

  /** The job's study (a follow-up reads the thread's), with every image loaded; undefined for one image. */
  async function loadStudy(
    job: StoredJob,
  ): Promise<{ images: StudyImage[]; stored: StoredStudy } | undefined> {
    const current = (await store.getJob(job.id)) ?? job;
    const thread = job.isFollowUp ? await store.getThread(job.threadKey) : undefined;
    const stored = current.study ?? thread?.study;
    if (!stored || stored.images.length < 2) return stored ? { images: [], stored } : undefined;
    const images: StudyImage[] = [];
    for (const entry of stored.images) {
      const image = await store.loadImage(entry.ref);
      if (!image)
        throw new AppError('INPUT_UNSUPPORTED', 'study image gone', {
          userMessage: refusals.threadImageGone,
        });
      images.push({ ...image, label: entry.label, ...(entry.role ? { role: entry.role } : {}) });
    }
    return { images, stored };
  }

  return { prepareStudyImages, loadStudy };
}
