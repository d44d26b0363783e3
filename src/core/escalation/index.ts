import type { Logger } from '../../log.ts';
import type { EscalationRecord, Store, StoredJob } from '../../store/types.ts';
import type { ChatAdapter } from '../adapter.ts';
import { notes, type OutboundMessage, type PageNotice } from '../reply.ts';
import type { Platform, Urgency } from '../types.ts';
import type { Rotas } from './rota.ts';
import type { PageTarget } from './targets.ts';
import { realTimers, type Timers } from './timers.ts';

/**
 * Closed-loop communication of critical results (issue 19; ACR practice parameter on communication of
 * diagnostic imaging findings). A critical read (or urgent, with ESCALATE_URGENT) pages the on-call in
 * the thread and directly; unacknowledged after ESCALATE_AFTER_MIN it pages the backup and says so in
 * the thread; after a second timeout it asks the whole channel. Any acknowledgement stops the chain.
 *
 * Durability (a crash at any point resumes, no page twice, no step skipped):
 * - the plan is stored with the read's answer (one write), so a read that exists has its escalation;
 * - a step is recorded as begun (step, stepAt) before any of its messages is sent, so its timeout is
 *   counted from the first attempt, not from a restart;
 * - each message of a step has an idempotency key (`<step>:<place>:<target>`), claimed before it is
 *   sent and marked sent after. On resume, sent keys are skipped and claimed ones are sent again (with
 *   the same key, which Discord deduplicates as a nonce): a page is never lost, and only a process
 *   killed between the platform accepting a Slack message and the next disk write can repeat one.
 * One process owns the chain (the store's lock); each job's steps and acknowledgements run one at a
 * time here.
 */

export interface EscalationDeps {
  store: Store;
  logger: Logger;
  clock: () => number;
  timers?: Timers;
  rotas: Rotas;
  adapterFor(platform: Platform): ChatAdapter | undefined;
}

export type Escalations = ReturnType<typeof createEscalations>;

const stepEvent = { 1: 'paged', 2: 'escalated', 3: 'channel-alerted' } as const;
const retryMs = 60_000;

/** One line of the impression for a phone's lock screen. */
function oneLine(text: string, max = 200): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}

export function createEscalations(deps: EscalationDeps) {
  const { store, rotas } = deps;
  const timers = deps.timers ?? realTimers;
  const logger = deps.logger.child({ component: 'escalation' });
  const iso = () => new Date(deps.clock()).toISOString();
  const pending = new Map<string, unknown>();
  const chains = new Map<string, Promise<void>>();
  let stopped = false;

  /** Steps and acknowledgements of one job never interleave. */
  function serially(jobId: string, work: () => Promise<void>): Promise<void> {
    const next = (chains.get(jobId) ?? Promise.resolve()).then(work, work);
    const settled = next.catch((error) => logger.error({ err: error, job: jobId }, 'escalation failed'));
    chains.set(jobId, settled);
    void settled.then(() => {
      if (chains.get(jobId) === settled) chains.delete(jobId);
    });
    return next;
  }

  /** The escalation to store with a read's answer, or nothing when the read pages nobody. */
  function plan(job: StoredJob, urgency: Urgency): { escalation: EscalationRecord } | Record<string, never> {
    const pages = urgency === 'critical' || (urgency === 'urgent' && rotas.includeUrgent);
    if (!pages || job.isFollowUp) return {};
    const rota = rotas.forChannel(job.platform, job.thread.channelId);
    if (!rota || rota.onCall.length === 0) return {};
    return {
      escalation: { rota, afterMs: rotas.afterMin * 60_000, urgency, step: 0, deliveries: {} },
    };
  }

  const open = (record: EscalationRecord | undefined): record is EscalationRecord =>
    record !== undefined && !record.acknowledged;

  async function save(jobId: string, record: EscalationRecord): Promise<void> {
    await store.updateJob(jobId, { escalation: record });
  }

  /** Send one message of a step unless its key says it went out already. */
  async function once(
    job: StoredJob,
    record: EscalationRecord,
    key: string,
    send: () => Promise<unknown>,
  ): Promise<void> {
    if (record.deliveries[key]?.state === 'sent') return;
    record.deliveries[key] = { state: 'claimed', at: iso() };
    await save(job.id, record);
    await send();
    record.deliveries[key] = { state: 'sent', at: iso() };
    await save(job.id, record);
  }

  async function linkOf(adapter: ChatAdapter, job: StoredJob): Promise<string | undefined> {
    if (!adapter.linkTo || !job.postedMessageId) return undefined;
    return adapter.linkTo({ thread: job.thread, messageId: job.postedMessageId }).catch(() => undefined);
  }

  /**
   * A step whose message the platform would not take (after the client's own retries) is tried again
   * a minute later rather than left to the next restart: a page must not stall on one outage.
   */
  async function runStep(jobId: string, step: 1 | 2 | 3): Promise<void> {
    try {
      await runStepOnce(jobId, step);
    } catch (error) {
      logger.warn({ err: error, job: jobId, step }, 'escalation step failed; trying again in a minute');
      if (stopped) return;
      timers.clearTimeout(pending.get(jobId));
      pending.set(
        jobId,
        timers.setTimeout(() => {
          pending.delete(jobId);
          void serially(jobId, () => runStep(jobId, step));
        }, retryMs),
      );
    }
  }

  async function runStepOnce(jobId: string, step: 1 | 2 | 3): Promise<void> {
    const job = await store.getJob(jobId);
    const record = job?.escalation;
    if (!job || !open(record) || record.step > step || stopped) return;
    const adapter = deps.adapterFor(job.platform);
    if (!adapter) return;
    if (record.step < step) {
      // Begun before anything is sent: the timeout runs from here, whatever happens next.
      record.step = step;
      record.stepAt = iso();
      await save(jobId, record);
    }
    const card = job.answer?.kind === 'read' ? job.answer.card : undefined;
    const targets: PageTarget[] =
      step === 1
        ? record.rota.onCall
        : step === 2
          ? record.rota.backup
          : [...record.rota.onCall, ...record.rota.backup];
    const link = await linkOf(adapter, job);
    const notice = (place: PageNotice['place'], mentions: PageTarget[]): OutboundMessage => ({
      kind: 'page',
      page: {
        jobId,
        step,
        place,
        urgency: record.urgency,
        impression: oneLine(card?.impression ?? ''),
        mentions,
        afterMin: record.afterMs / 60_000,
        ...(link ? { link } : {}),
      },
    });
    if (step === 3) {
      await once(job, record, '3:channel', () =>
        adapter.postInChannel
          ? adapter.postInChannel(job.thread.channelId, notice('channel', targets))
          : adapter.post(job.thread, notice('channel', targets)),
      );
    } else if (targets.length > 0) {
      await once(job, record, `${step}:thread`, () => adapter.post(job.thread, notice('thread', targets)));
      for (const target of targets.filter((t) => t.kind === 'user')) {
        const key = `${step}:direct:${target.id}`;
        if (!adapter.messageDirectly) break;
        const direct = adapter.messageDirectly.bind(adapter);
        // One person's closed DMs must not keep the others from being paged.
        await once(job, record, key, () =>
          direct(target.id, notice('direct', [target]), `${jobId}:${key}`),
        ).catch((error) => logger.warn({ err: error, job: jobId, step }, 'direct page failed'));
      }
    }
    await once(job, record, `${step}:audit`, () =>
      store.audit({
        event: stepEvent[step],
        jobId,
        userId: job.userId,
        channelId: job.thread.channelId,
        platform: job.platform,
        urgency: record.urgency,
        step,
        paged: targets.map((t) => t.id),
        ...(job.imageSha256 ? { imageSha256: job.imageSha256 } : {}),
      }),
    );
    schedule(jobId, record);
  }

  /** Arm the timer for the step after the last one begun (at once when it is overdue). */
  function schedule(jobId: string, record: EscalationRecord): void {
    timers.clearTimeout(pending.get(jobId));
    pending.delete(jobId);
    if (!open(record) || record.step === 0 || record.step >= 3 || stopped) return;
    const next = (record.step + 1) as 2 | 3;
    const due = Date.parse(record.stepAt ?? iso()) + record.afterMs;
    const handle = timers.setTimeout(
      () => {
        pending.delete(jobId);
        void serially(jobId, () => runStep(jobId, next));
      },
      Math.max(0, due - deps.clock()),
    );
    pending.set(jobId, handle);
  }

  return {
    plan,

    /** The read's card is posted: page the on-call (no-op when nothing is planned or already begun). */
    begin(jobId: string): Promise<void> {
      return serially(jobId, () => runStep(jobId, 1));
    },

    /** After a restart: finish the step that was under way, and arm the next one at its time. */
    async resume(): Promise<number> {
      const jobs = (await store.listJobs()).filter((job) => open(job.escalation));
      for (const job of jobs) {
        const step = job.escalation!.step;
        // Step 0 with no posted card waits for the resumed delivery, which calls begin().
        if (step === 0 && !job.postedMessageId) continue;
        void serially(job.id, () => runStep(job.id, step === 0 ? 1 : step));
      }
      return jobs.length;
    },

    /**
     * Someone looked: the chain stops. `notCritical` also records a disagreement with the urgency. The
     * requester is told once, privately. Returns false when the job had no escalation.
     */
    async acknowledged(jobId: string, userId: string, at: string, notCritical: boolean): Promise<boolean> {
      let had = false;
      await serially(jobId, async () => {
        const job = await store.getJob(jobId);
        const record = job?.escalation;
        if (!job || !record) return;
        had = true;
        if (notCritical) {
          record.falseAlarms = [...(record.falseAlarms ?? []), { userId, at }];
          await store
            .audit({
              event: 'not-critical',
              jobId,
              userId: job.userId,
              channelId: job.thread.channelId,
              platform: job.platform,
              acknowledgedBy: userId,
              urgency: record.urgency,
            })
            .catch(() => undefined);
        }
        const first = !record.acknowledged;
        if (first) record.acknowledged = { userId, at, notCritical };
        await save(jobId, record);
        timers.clearTimeout(pending.get(jobId));
        pending.delete(jobId);
        if (!first) return;
        const pagedAt = record.deliveries['1:thread']?.at;
        const minutes = pagedAt ? (Date.parse(at) - Date.parse(pagedAt)) / 60_000 : 0;
        await deps
          .adapterFor(job.platform)
          ?.notifyPrivately?.(job.thread, job.userId, notes.criticalAcknowledged(minutes))
          .catch((error) =>
            logger.warn({ err: error, job: jobId }, 'requester not told of the acknowledgement'),
          );
      });
      return had;
    },

    /** Seconds from the first page to an acknowledgement at `at` (for the audit line). */
    async ackAfterSec(jobId: string, at: string): Promise<number | undefined> {
      const pagedAt = (await store.getJob(jobId))?.escalation?.deliveries['1:thread']?.at;
      return pagedAt ? Math.max(0, Math.round((Date.parse(at) - Date.parse(pagedAt)) / 1000)) : undefined;
    },

    async stop(): Promise<void> {
      stopped = true;
      for (const handle of pending.values()) timers.clearTimeout(handle);
      pending.clear();
      // A step stuck in the platform client's retries must not hold the stop: it resumes on the next start.
      await Promise.race([
        Promise.allSettled([...chains.values()]),
        new Promise((resolve) => setTimeout(resolve, 5000).unref()),
      ]);
    },
  };
}
