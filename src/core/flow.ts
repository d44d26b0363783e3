import { isStoppedError } from '../dispatch/index.ts';
import { AppError, isAppError, toAppError } from '../errors.ts';
import { composeMontage } from '../ingest/study/montage.ts';
import type { StoredJob } from '../store/types.ts';
import type { ChatAdapter } from './adapter.ts';
import { cardAsTurn, toReadCard } from './card.ts';
import type { JobDeps } from './job-deps.ts';
import { createJobImages, defaultQuestion, maxHistoryTurns } from './job-image.ts';
import { cardText, notes, type OutboundMessage, type PostedRef, refusals } from './reply.ts';
import { createStatusMessages } from './status.ts';

const cancelledByRequester = () =>
  new AppError('CANCELLED', 'cancelled by requester', { userMessage: refusals.cancelledByRequester });

/**
 * One job from "queued" to exactly one visible answer (DESIGN §1, issue #5). Every step writes its
 * outcome to the store before the next visible effect, so a process killed at any point resumes:
 * an answer that exists is posted without asking the engine again, and a posted answer
 * (postedMessageId) is never posted twice.
 */
export function createJobRunner(deps: JobDeps) {
  const { store, dispatcher } = deps;
  const iso = () => new Date(deps.clock()).toISOString();
  const log = (job: StoredJob) => deps.logger.child({ job: job.id, platform: job.platform });

  const { statusOf, enqueueEdit, onUpdate, forget } = createStatusMessages(deps);
  const { prepareImage, buildInput, loadStudy } = createJobImages(deps);
  /** The jobs this process is running, so their requester (or a stop) can abort them. */
  const controllers = new Map<string, AbortController>();

  const delivering = new Map<string, Promise<void>>();

  /** Post (or edit the status message into) the stored answer, then mark the job done; once per job. */
  function deliver(jobId: string): Promise<void> {
    let running = delivering.get(jobId);
    if (!running) {
      running = deliverOnce(jobId).finally(() => delivering.delete(jobId));
      delivering.set(jobId, running);
    }
    return running;
  }

  async function deliverOnce(jobId: string): Promise<void> {
    const status = statusOf(jobId);
    status.final = true;
    await status.chain;
    let job = await store.getJob(jobId);
    if (!job?.answer || ['succeeded', 'failed', 'cancelled'].includes(job.status)) return;
    const adapter = deps.adapterFor(job.platform);
    if (!job.postedMessageId) {
      if (!adapter) throw new AppError('INTERNAL', `no adapter for ${job.platform}`);
      const message: OutboundMessage =
        job.answer.kind === 'read'
          ? { kind: 'read', card: job.answer.card }
          : { kind: 'error', jobId, code: job.answer.code, text: job.answer.text };
      await rememberTurns(job);
      const posted = await postOrEdit(adapter, job, message);
      // Stored before the job is marked done: a restart finds it and does not post again.
      job = (await store.updateJob(jobId, { postedMessageId: posted.messageId }))!;
      if (job.answer?.kind === 'read' && adapter.uploadPreview && !job.previewAttempted && job.imageRef) {
        await store.updateJob(jobId, { previewAttempted: true });
        // A study's preview is the labelled montage of what the model saw.
        const study = await loadStudy(job).catch(() => undefined);
        const image = await store.loadImage(job.imageRef);
        const montage =
          study && study.images.length > 1
            ? (await composeMontage(study.images, deps.config.MAX_IMAGE_SIZE).catch(() => undefined))?.png
            : undefined;
        const shown = montage && study ? study.images : image ? [image] : [];
        // "downsized" only when the model saw fewer pixels than the file holds (issue 18).
        const resized = shown.some(
          (seen) => seen.width !== seen.source.columns || seen.height !== seen.source.rows,
        );
        const png = montage ?? image?.png;
        if (png)
          await adapter
            .uploadPreview(job.thread, png, cardText.previewCaption(resized))
            .catch(() => undefined);
      }
    }
    await finish(job);
  }

  /** The question and answer join the thread's history (once per job) before the answer is shown. */
  async function rememberTurns(job: StoredJob): Promise<void> {
    const answer = job.answer;
    if (answer?.kind !== 'read') return;
    await store.updateThread(job.threadKey, (thread) => {
      if (!thread || (thread.answeredJobs ?? []).includes(job.id)) return undefined;
      const turns = [
        ...thread.turns,
        { role: 'user' as const, text: job.request?.question.trim() || defaultQuestion },
        cardAsTurn(answer.card),
      ].slice(-maxHistoryTurns);
      const answeredJobs = [...(thread.answeredJobs ?? []), job.id].slice(-50);
      return { ...thread, turns, answeredJobs, lastActivityAt: iso() };
    });
  }

  /** Edit the status message in place; when there is none (or it is gone), post a new message. */
  async function postOrEdit(
    adapter: ChatAdapter,
    job: StoredJob,
    message: OutboundMessage,
  ): Promise<PostedRef> {
    if (job.statusMessageId) {
      const ref = { thread: job.thread, messageId: job.statusMessageId };
      for (let attempt = 0; attempt < 3; attempt += 1) {
        try {
          await adapter.update(ref, message);
          return ref;
        } catch (error) {
          log(job).warn({ err: error, attempt }, 'answer edit failed');
          await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** attempt));
        }
      }
      const posted = await adapter.post(job.thread, message);
      // The answer now lives in a new message; the old status must not keep saying "reading…"
      // (issue 16). Best effort: the answer is already visible, so a failure here fails nothing.
      await adapter
        .update(ref, notes.answerBelow(message.kind === 'read' ? 'read' : 'answer'))
        .catch((error) => log(job).warn({ err: error }, 'stale status edit failed'));
      return posted;
    }
    return adapter.post(job.thread, message);
  }

  async function finish(job: StoredJob): Promise<void> {
    const answer = job.answer!;
    const status =
      answer.kind === 'read' ? 'succeeded' : answer.code === 'CANCELLED' ? 'cancelled' : 'failed';
    await store.updateJob(job.id, {
      status,
      finishedAt: iso(),
      ...(answer.kind === 'error' ? { error: { code: answer.code, message: answer.text } } : {}),
    });
    forget(job.id);
    await store
      .audit({
        event: answer.kind === 'read' ? 'read' : status === 'cancelled' ? 'cancelled' : 'failed',
        jobId: job.id,
        userId: job.userId,
        channelId: job.thread.channelId,
        platform: job.platform,
        ...(job.imageSha256 ? { imageSha256: job.imageSha256 } : {}),
        ...(job.model ? { model: job.model } : {}),
        ...(job.promptVersion ? { promptVersion: job.promptVersion } : {}),
        ...(job.urgency ? { urgency: job.urgency } : {}),
        ...(answer.kind === 'error' ? { code: answer.code } : {}),
      })
      .catch((error) => log(job).error({ err: error }, 'audit write failed'));
    const adapter = deps.adapterFor(job.platform);
    await adapter
      ?.react?.(job.thread, job.userMessageId, answer.kind === 'read' ? 'done' : 'failed')
      .catch(() => {});
    if (answer.kind === 'read') deps.onDelivered?.(job.id);
  }

  async function fail(jobId: string, error: unknown): Promise<void> {
    const appError = toAppError(error);
    dispatcher.cancel(jobId);
    const job = await store.getJob(jobId);
    if (!job || job.answer) return deliver(jobId);
    if (appError.code === 'INTERNAL') log(job).error({ err: appError }, 'job failed');
    else log(job).info({ code: appError.code }, 'job failed');
    await store.updateJob(jobId, {
      answer: { kind: 'error', code: appError.code, text: appError.userMessage },
    });
    await deliver(jobId);
  }

  /** Queue a persisted job and run it to its one answer in the background; returns its place. */
  function launch(
    job: StoredJob,
    isResume: boolean,
  ): { position: number; etaSec: number; done: Promise<void> } {
    const controller = new AbortController();
    controllers.set(job.id, controller);
    let imageRef: string | undefined;
    // The dispatcher calls `input` when the job is a few places from the GPU, in fair-queue order.
    const result = dispatcher.schedule(
      {
        id: job.id,
        userId: job.userId,
        channelId: `${job.platform}:${job.thread.channelId}`,
        priority: job.priority,
        enqueuedAt: Date.parse(job.createdAt),
        input: async () => {
          imageRef = await prepareImage(job, controller.signal);
          return buildInput(job, imageRef);
        },
        onUpdate: (update) => onUpdate(job, update),
      },
      controller.signal,
    );
    result.catch(() => undefined);
    const place = dispatcher.position(job.id) ?? { position: 1, etaSec: dispatcher.etaSec(1) };

    const done = (async () => {
      const adapter = deps.adapterFor(job.platform);
      if (!isResume) await adapter?.react?.(job.thread, job.userMessageId, 'received').catch(() => {});
      const state = dispatcher.stats().engineUp ? 'queued' : 'waiting-engine';
      if (!job.statusMessageId || isResume) {
        enqueueEdit(job, { kind: 'status', jobId: job.id, state, ...place }, state);
      }
      try {
        const inference = await result;
        deps.onRead(inference.promptVersion);
        const image = imageRef ? await store.loadImage(imageRef) : undefined;
        const card = toReadCard(
          job.id,
          inference,
          image ?? {
            width: 0,
            height: 0,
            tokens: 0,
            deid: { removedTags: 0, burnedInAnnotation: false, identityPresent: false },
          },
          job.isFollowUp,
        );
        // The card names every image read and what was left out (issue 17).
        const study = (await loadStudy(job))?.stored;
        if (study) {
          card.studyNotes = study.notes;
          if (study.images.length > 1) card.images = study.images.map((one) => one.label);
        }
        await store.updateJob(job.id, {
          answer: { kind: 'read', card },
          urgency: inference.urgency,
          model: inference.model,
          promptVersion: inference.promptVersion,
          // One write: a read that exists has its escalation (issue 19), whenever the process dies.
          ...(deps.planFor?.(job, inference.urgency) ?? {}),
        });
        await deliver(job.id);
      } catch (error) {
        // Whatever error the flow saw, a job its requester withdrew is answered as cancelled.
        if (isAppError(controller.signal.reason, 'CANCELLED')) return fail(job.id, cancelledByRequester());
        if (deps.isStopping() && (isStoppedError(error) || controller.signal.aborted)) return;
        await fail(job.id, error);
      } finally {
        controllers.delete(job.id);
      }
    })().catch((error) => {
      if (!deps.isStopping()) log(job).error({ err: error }, 'job flow failed');
    });
    return { ...place, done };
  }

  /** Withdraw a job this process is running; false when it is not running here. */
  function cancel(jobId: string): boolean {
    const controller = controllers.get(jobId);
    if (!controller) return false;
    controller.abort(new AppError('CANCELLED', 'cancelled by requester'));
    return true;
  }

  function abortAll(): void {
    for (const controller of controllers.values()) controller.abort(new Error('stopping'));
  }

  return { launch, deliver, fail, cancel, abortAll };
}
