import { randomUUID } from 'node:crypto';
import type { Config } from '../config.ts';
import type { Dispatcher } from '../dispatch/types.ts';
import { AppError, BOT_STOPPING_RETRY_S, botStoppingError, isAppError, toAppError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { type Store, type StoredJob, threadKeyOf } from '../store/types.ts';
import type {
  ActionOutcome,
  BotCore,
  ChatAdapter,
  CoreAction,
  HandleOutcome,
  QueueSnapshot,
} from './adapter.ts';
import { createEscalations } from './escalation/index.ts';
import { loadRotas, type Rotas } from './escalation/rota.ts';
import type { Timers } from './escalation/timers.ts';
import { createJobRunner } from './flow.ts';
import type { PrepareFn, PrepareStudyFn } from './job-deps.ts';
import {
  isAllowed,
  isAllowedIn,
  isCancelCommand,
  isUserAllowed,
  priorityOf,
  userMessageIdOf,
} from './policy.ts';
import { help, modelCard, notes, refusals, queueStatus as replyQueueStatus } from './reply.ts';
import type { Engine, InboundRequest, Platform } from './types.ts';

export type { PrepareFn, PrepareStudyFn } from './job-deps.ts';

export interface BotCoreDeps {
  config: Config;
  logger: Logger;
  store: Store;
  dispatcher: Dispatcher;
  engine: Engine;
  prepare?: PrepareFn;
  /** Several images of one message (views, a series, a prior) as one study (src/ingest/study). */
  prepareStudy?: PrepareStudyFn;
  clock?: () => number;
  /** The engine's prompt version for the model card before any read has come back. */
  promptVersion?: string;
  /** Least time between two queue-position edits of one status message (default 10 s). */
  statusEditIntervalMs?: number;
  /** Who is paged for critical reads (default: built from the config; a bad ESCALATION_FILE throws). */
  rotas?: Rotas;
  /** The escalation's timers (tests pass a fake clock's). */
  timers?: Timers;
  /** First wait before a resumed answer the platform refused is tried again, doubling (default 5 s). */
  resumeRetryMs?: number;
}

/** A resumed answer the platform keeps refusing is left owed for the next start after this many tries. */
const resumeTries = 5;

export type RunningBotCore = BotCore & {
  attach(adapter: ChatAdapter): void;
  /** Resume queued and interrupted jobs and start the retention sweep. */
  start(): Promise<void>;
  /** Stop producing: refuse new requests, give in-flight reads up to `graceMs`, leave the rest owed. */
  stop(options?: { graceMs?: number }): Promise<void>;
};

/** A job interrupted this often (crashes while reading it) is failed instead of retried forever. */
const maxResumes = 3;
const terminal = new Set(['succeeded', 'failed', 'cancelled']);

/**
 * The bot flow (DESIGN §1): dedupe, authorise, persist, queue, answer exactly once. Adapters call
 * `handle()` and ack their platform once it resolves; everything slow happens after.
 */
export function createBotCore(deps: BotCoreDeps): RunningBotCore {
  const { config, store, dispatcher, engine } = deps;
  const clock = deps.clock ?? Date.now;
  const logger = deps.logger.child({ component: 'core' });
  let stopping = false;
  let sweepTimer: NodeJS.Timeout | undefined;
  const flows = new Set<Promise<void>>();
  let lastPromptVersion = deps.promptVersion ?? 'unknown';
  const adapters = new Map<Platform, ChatAdapter>();
  const escalations = createEscalations({
    store,
    logger,
    clock,
    rotas: deps.rotas ?? loadRotas(config),
    adapterFor: (platform) => adapters.get(platform),
    ...(deps.timers ? { timers: deps.timers } : {}),
  });
  const runner = createJobRunner({
    config,
    logger,
    store,
    dispatcher,
    ...(deps.prepare ? { prepare: deps.prepare } : {}),
    ...(deps.prepareStudy ? { prepareStudy: deps.prepareStudy } : {}),
    clock,
    adapterFor: (platform) => adapters.get(platform),
    statusEditIntervalMs: deps.statusEditIntervalMs ?? 10_000,
    isStopping: () => stopping,
    // The model card shows the prompt version the engine actually reported last.
    onRead: (promptVersion) => {
      lastPromptVersion = promptVersion;
    },
    planFor: escalations.plan,
    onDelivered: (jobId) => track(escalations.begin(jobId)),
  });
  const iso = () => new Date(clock()).toISOString();

  function track(done: Promise<void>): void {
    flows.add(done);
    // Never an unhandled rejection: a flow that fails is logged with its code, the process carries on.
    void done.then(
      () => flows.delete(done),
      (error: unknown) => {
        flows.delete(done);
        logger.error({ code: toAppError(error).code }, 'job flow failed');
      },
    );
  }

  const resumeTimers = new Set<NodeJS.Timeout>();
  /**
   * Resume: post a stored answer (or end a job with an error answer). A platform error is logged with
   * its code; a retryable one (CHAT_API_FAILED) is tried again with backoff, anything else — or the
   * last try — leaves the job owed for the next start.
   */
  function resumeJob(jobId: string, run: () => Promise<void>, attempt = 1): void {
    track(
      run().catch((error: unknown) => {
        const appError = toAppError(error);
        const again = appError.retryable && attempt < resumeTries && !stopping;
        logger.warn({ job: jobId, code: appError.code, attempt, again }, 'resumed job not delivered');
        if (!again) return;
        const timer = setTimeout(
          () => {
            resumeTimers.delete(timer);
            resumeJob(jobId, () => runner.deliver(jobId), attempt + 1);
          },
          (deps.resumeRetryMs ?? 5000) * 2 ** (attempt - 1),
        );
        timer.unref();
        resumeTimers.add(timer);
      }),
    );
  }

  const refusal = (code: string, text: string): HandleOutcome => ({
    kind: 'refused',
    code,
    reply: { kind: 'error', code, text },
  });

  async function refuse(request: InboundRequest, error: AppError): Promise<HandleOutcome> {
    await store
      .audit({
        event: 'refused',
        userId: request.userId,
        channelId: request.thread.channelId,
        platform: request.platform,
        code: error.code,
      })
      .catch(() => undefined);
    logger.info({ platform: request.platform, code: error.code }, 'request refused');
    return refusal(error.code, error.userMessage);
  }

  async function cancelInThread(request: InboundRequest, threadKey: string): Promise<boolean> {
    const live = await store.listJobs(['queued', 'running']);
    const mine = live.filter((job) => job.threadKey === threadKey && job.userId === request.userId);
    let any = false;
    for (const job of mine) any = (await cancel(job.id, request.userId)) || any;
    return any;
  }

  /**
   * Copies of one message (Slack sends app_mention and message; platforms retry) are handled one after
   * the other, so a copy that arrives while the first is still being stored sees its outcome — and a
   * copy that carries the file still counts when the first was `ignored` (its claim was released).
   */
  const inFlight = new Map<string, Promise<unknown>>();
  function oneAtATime<T>(key: string, work: () => Promise<T>): Promise<T> {
    const before = inFlight.get(key) ?? Promise.resolve();
    const mine = before.then(work, work);
    const settled = mine.catch(() => undefined);
    inFlight.set(key, settled);
    void settled.then(() => {
      if (inFlight.get(key) === settled) inFlight.delete(key);
    });
    return mine;
  }

  /** Messages already told how to attach an image (one hint per message, not per delivered copy). */
  const hinted = new Set<string>();
  function hintOnce(request: InboundRequest): HandleOutcome {
    if ((request.trigger ?? 'mention') === 'reply' || hinted.has(request.messageKey)) {
      return { kind: 'ignored', reason: 'no-image' };
    }
    hinted.add(request.messageKey);
    if (hinted.size > 10_000) hinted.delete(hinted.values().next().value as string);
    return { kind: 'ignored', reason: 'no-image', reply: notes.attachAnImage(request.platform) };
  }

  async function handleMessage(request: InboundRequest): Promise<HandleOutcome> {
    const threadKey = threadKeyOf(request.platform, request.thread);
    if (request.trigger === 'reply') {
      // A plain message in a thread is ours only while we read that thread: nothing is stored for it.
      const current = await store.getThread(threadKey);
      if (!current?.active || !current.imageRef) return { kind: 'ignored', reason: 'not-for-bot' };
    }
    const jobId = randomUUID();
    const keys = { platform: request.platform, eventId: request.eventId, messageKey: request.messageKey };
    let claim: Awaited<ReturnType<Store['claimEvent']>>;
    try {
      claim = await store.claimEvent(keys, jobId);
    } catch (error) {
      // Shared storage (STORE=redis) unreachable: a coded refusal, nothing taken, nothing acked as stored.
      if (isAppError(error, 'STORE_UNAVAILABLE')) return refuse(request, error);
      throw error;
    }
    if (claim.duplicate) {
      const existing = claim.jobId ? await store.getJob(claim.jobId) : undefined;
      const reply = request.trigger === 'menu' ? { reply: notes.alreadyReading } : {};
      return existing ? { kind: 'duplicate', jobId: existing.id, ...reply } : { kind: 'duplicate', ...reply };
    }
    if (!isAllowed(config, request)) return refuse(request, new AppError('NOT_ALLOWED', 'not on allow-list'));
    const thread = await store.getThread(threadKey);
    const attachment = request.attachments[0];
    if (!attachment) {
      if (isCancelCommand(request.question) && thread) {
        // A withdrawn job answers in its own status message; with nothing left to withdraw, say so.
        if (await cancelInThread(request, threadKey)) return { kind: 'ignored', reason: 'not-for-bot' };
        return { kind: 'ignored', reason: 'not-for-bot', reply: notes.nothingToCancel };
      }
      if (!thread?.active || !thread.imageRef) {
        // Not ours to read — but another delivery of the same message may carry the file (Slack
        // sends app_mention and message/file_share separately): let that copy count.
        await store.releaseEvent(keys);
        return hintOnce(request);
      }
    } else if (request.attachments.some((one) => one.external)) {
      return refuse(
        request,
        new AppError('INPUT_UNSUPPORTED', 'external file', { userMessage: refusals.externalFile }),
      );
    }
    try {
      await dispatcher.admit(request.userId);
    } catch (error) {
      return refuse(request, toAppError(error));
    }
    const now = iso();
    const isFollowUp = !attachment;
    const job: StoredJob = {
      id: jobId,
      eventId: request.eventId,
      messageKey: request.messageKey,
      platform: request.platform,
      thread: request.thread,
      threadKey,
      userId: request.userId,
      userMessageId: userMessageIdOf(request),
      status: 'queued',
      attempts: 0,
      priority: priorityOf(config, request),
      ...(isFollowUp && thread?.imageRef ? { imageRef: thread.imageRef } : {}),
      createdAt: now,
      isFollowUp,
      request: {
        question: request.question,
        // File names often carry patient names and nothing downstream needs them: never stored.
        attachments: request.attachments.map((attachment) => ({ ...attachment, name: '' })),
        receivedAt: request.receivedAt,
        ...(request.platformData ? { platformData: request.platformData } : {}),
      },
    };
    // One durable write holds the event claims, the job and its thread: the adapter acks after it.
    const stored = Promise.all([
      store.updateThread(threadKey, (current) => ({
        key: threadKey,
        platform: request.platform,
        thread: request.thread,
        active: true,
        turns: current?.turns ?? [],
        lastActivityAt: now,
        ...(current?.imageRef ? { imageRef: current.imageRef } : {}),
        ...(current?.study ? { study: current.study } : {}),
        ...(current?.answeredJobs ? { answeredJobs: current.answeredJobs } : {}),
        ...(request.platformData ? { platformData: request.platformData } : {}),
      })),
      store.insertJob(job),
    ]);
    try {
      await stored;
    } catch (error) {
      // Best effort: with Redis gone the claim cannot be released, and it expires with its TTL.
      await store.releaseEvent(keys).catch(() => undefined);
      // A full or failing disk: a coded refusal now, not a request the platform thinks was taken.
      if (
        isAppError(error, 'STORE_FULL') ||
        isAppError(error, 'STORE_IO_ERROR') ||
        isAppError(error, 'STORE_UNAVAILABLE')
      )
        return refuse(request, error);
      throw error;
    }
    const { position, etaSec, done } = runner.launch(job, false);
    track(done);
    return { kind: isFollowUp ? 'followup' : 'accepted', jobId, position, etaSec };
  }

  const notAllowedToAct = (): ActionOutcome => ({
    done: false,
    reply: { kind: 'error', code: 'NOT_ALLOWED', text: refusals.notAllowedToAct },
  });

  async function acknowledge(jobId: string, userId: string, notCritical = false): Promise<ActionOutcome> {
    const job = await store.getJob(jobId);
    if (job?.answer?.kind !== 'read') return { done: false, reply: refusals.cannotAcknowledge };
    // Acknowledging a read is a clinical act: only allow-listed users may record one.
    if (!isUserAllowed(config, job.platform, userId)) return notAllowedToAct();
    const existing = await store.getAcknowledgement(jobId);
    const noted = notCritical ? { reply: notes.notCriticalRecorded } : {};
    if (existing) {
      // A "not critical" after someone else's acknowledgement is still a disagreement worth keeping.
      if (notCritical) await escalations.acknowledged(jobId, userId, iso(), true);
      return { done: true, at: existing.at, ...noted };
    }
    const at = iso();
    await store.acknowledge({ jobId, userId, at });
    const card = { ...job.answer.card, acknowledgedBy: { userId, at } };
    await store.updateJob(jobId, { answer: { kind: 'read', card } });
    const adapter = adapters.get(job.platform);
    if (adapter && job.postedMessageId) {
      await adapter
        .update({ thread: job.thread, messageId: job.postedMessageId }, { kind: 'read', card })
        .catch((error) => logger.warn({ err: error, job: jobId }, 'card not updated with acknowledgement'));
    }
    const ackAfterSec = await escalations.ackAfterSec(jobId, at);
    await escalations.acknowledged(jobId, userId, at, notCritical);
    await store
      .audit({
        event: 'acknowledged',
        jobId,
        userId: job.userId,
        channelId: job.thread.channelId,
        platform: job.platform,
        acknowledgedBy: userId,
        ...(job.imageSha256 ? { imageSha256: job.imageSha256 } : {}),
        ...(job.urgency ? { urgency: job.urgency } : {}),
        ...(ackAfterSec !== undefined ? { ackAfterSec } : {}),
      })
      .catch(() => undefined);
    return { done: true, at, ...noted };
  }

  async function vote(jobId: string, userId: string, vote: 'up' | 'down'): Promise<ActionOutcome> {
    const job = await store.getJob(jobId);
    if (!job) return { done: false, reply: refusals.readGone };
    if (!isUserAllowed(config, job.platform, userId)) return notAllowedToAct();
    await store.addFeedback({
      jobId,
      userHash: store.hashId(`${job.platform}:${userId}`),
      vote,
      at: iso(),
      ...(job.model ? { model: job.model } : {}),
      ...(job.promptVersion ? { promptVersion: job.promptVersion } : {}),
    });
    return { done: true, reply: notes.voteRecorded(vote) };
  }

  async function cancel(jobId: string, userId: string): Promise<boolean> {
    const job = await store.getJob(jobId);
    if (!job || job.userId !== userId || terminal.has(job.status) || job.answer) return false;
    return runner.cancel(jobId);
  }

  async function act(action: CoreAction): Promise<ActionOutcome> {
    switch (action.kind) {
      case 'acknowledge':
        return acknowledge(action.jobId, action.userId);
      case 'not-critical':
        return acknowledge(action.jobId, action.userId, true);
      case 'up':
      case 'down':
        return vote(action.jobId, action.userId, action.kind);
      case 'cancel':
        return (await cancel(action.jobId, action.userId))
          ? { done: true, reply: notes.cancelled }
          : { done: false, reply: notes.nothingToCancel };
    }
  }

  const reactions: Record<string, CoreAction['kind']> = { '👍': 'up', '👎': 'down', '✅': 'acknowledge' };

  function queueStatus(): QueueSnapshot {
    const stats = dispatcher.stats();
    return {
      queued: stats.queued,
      running: stats.running,
      engineUp: stats.engineUp,
      etaSec: dispatcher.etaSec(),
      model: engine.model,
      promptVersion: lastPromptVersion,
    };
  }

  const core: RunningBotCore = {
    attach(adapter) {
      adapters.set(adapter.platform, adapter);
    },

    async handle(request) {
      // After SIGTERM nothing new is taken: the poster is told to post again once the bot is back.
      if (stopping) {
        const error = botStoppingError('handle');
        logger.info({ platform: request.platform, code: error.code }, 'request refused');
        return { ...refusal(error.code, error.userMessage), retryAfterSec: BOT_STOPPING_RETRY_S };
      }
      return oneAtATime(request.messageKey, () => handleMessage(request));
    },

    async act(action) {
      try {
        return await act(action);
      } catch (error) {
        const appError = toAppError(error);
        logger.warn({ err: appError, job: action.jobId }, `${action.kind} failed`);
        return { done: false, reply: { kind: 'error', code: appError.code, text: appError.userMessage } };
      }
    },

    async react(reaction) {
      const kind = reactions[reaction.emoji];
      return kind ? core.act({ ...reaction, kind }) : undefined;
    },

    command(command) {
      // The same allow-list as reads: outside it, a command says so and shows nothing else.
      if (!isAllowedIn(config, command.platform, command.channelId, command.userId)) {
        const text = new AppError('NOT_ALLOWED', 'command outside the allow-list').userMessage;
        return { kind: 'error', code: 'NOT_ALLOWED', text };
      }
      const queue = queueStatus();
      if (command.kind === 'status') return replyQueueStatus(queue);
      if (command.kind === 'model') return modelCard(queue, config.MAX_IMAGE_SIZE);
      return help(command.platform, queue, config.MAX_IMAGE_SIZE);
    },

    queueStatus,

    async start() {
      const pending = await store.listJobs(['queued', 'running']);
      for (const job of pending) {
        if (job.answer) {
          resumeJob(job.id, () => runner.deliver(job.id));
        } else if (job.attempts >= maxResumes || !job.request) {
          const error = new AppError('INTERNAL', 'job interrupted too often', {
            userMessage: refusals.interruptedTooOften,
          });
          resumeJob(job.id, () => runner.fail(job.id, error));
        } else {
          track(runner.launch(job, true).done);
        }
      }
      if (pending.length > 0) logger.info({ jobs: pending.length }, 'resumed jobs');
      const escalating = await escalations.resume();
      if (escalating > 0) logger.info({ escalations: escalating }, 'resumed critical-result escalations');
      const retentionMs = config.RETENTION_HOURS * 3600_000;
      const sweep = () =>
        store.sweep(retentionMs).catch((error) => logger.error({ err: error }, 'sweep failed'));
      await sweep();
      sweepTimer = setInterval(sweep, Math.min(retentionMs / 4, 3600_000));
      sweepTimer.unref();
    },

    async stop(options: { graceMs?: number } = {}) {
      if (stopping) return;
      stopping = true;
      clearInterval(sweepTimer);
      for (const timer of resumeTimers) clearTimeout(timer);
      // In-flight reads get up to graceMs (STOP_TIMEOUT_S) to finish and post; the rest stay owed.
      if (options.graceMs)
        await Promise.race([
          Promise.allSettled([...flows]),
          new Promise((resolve) => setTimeout(resolve, options.graceMs).unref()),
        ]);
      await dispatcher.stop();
      runner.abortAll();
      await escalations.stop();
      await Promise.race([
        Promise.allSettled([...flows]),
        new Promise((resolve) => setTimeout(resolve, 5000).unref()),
      ]);
    },
  };
  return core;
}
