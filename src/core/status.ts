import type { DispatchUpdate } from '../dispatch/types.ts';
import type { StoredJob } from '../store/types.ts';
import type { JobDeps } from './job-deps.ts';
import type { OutboundMessage } from './reply.ts';

/**
 * The one status message per job ("queued #k · about N s" → "reading"), edited in place and finally
 * turned into the answer. Edits are serialised per job so an old place never overwrites the answer.
 */
export function createStatusMessages(deps: JobDeps) {
  const { store } = deps;
  const iso = () => new Date(deps.clock()).toISOString();
  const log = (job: StoredJob) => deps.logger.child({ job: job.id, platform: job.platform });

  /** `final` is set when the answer takes the message over; later place updates are dropped. */
  interface Status {
    chain: Promise<void>;
    final: boolean;
    lastState?: string;
    lastEditAt: number;
  }
  const statuses = new Map<string, Status>();

  function statusOf(jobId: string): Status {
    let status = statuses.get(jobId);
    if (!status) {
      status = { chain: Promise.resolve(), final: false, lastEditAt: 0 };
      statuses.set(jobId, status);
    }
    return status;
  }

  function enqueueEdit(job: StoredJob, message: OutboundMessage, state: string): void {
    const status = statusOf(job.id);
    if (status.final) return;
    status.lastState = state;
    status.lastEditAt = deps.clock();
    status.chain = status.chain.then(async () => {
      const adapter = deps.adapterFor(job.platform);
      const current = await store.getJob(job.id);
      if (!adapter || status.final || !current) return;
      try {
        if (current.statusMessageId) {
          await adapter.update({ thread: job.thread, messageId: current.statusMessageId }, message);
        } else {
          const ref = await adapter.post(job.thread, message);
          await store.updateJob(job.id, { statusMessageId: ref.messageId });
        }
      } catch (error) {
        log(job).warn({ err: error }, 'status message not posted');
      }
    });
  }

  function onUpdate(job: StoredJob, update: DispatchUpdate): void {
    const status = statusOf(job.id);
    if (update.state === 'preparing') return;
    if (update.state === 'reading') {
      void store
        .updateJob(job.id, { status: 'running', startedAt: iso(), attempts: job.attempts + 1 })
        .catch(() => undefined);
      enqueueEdit(job, { kind: 'status', jobId: job.id, state: 'reading' }, 'reading');
      return;
    }
    // A changed state is shown at once ("engine unavailable, you are #k" once per outage); a mere
    // change of place at most every statusEditIntervalMs, to stay inside chat platforms' edit limits.
    const due = deps.clock() - status.lastEditAt >= deps.statusEditIntervalMs;
    if (update.state === status.lastState && !due) return;
    enqueueEdit(job, { kind: 'status', jobId: job.id, ...update }, update.state);
  }

  return { statusOf, enqueueEdit, onUpdate, forget: (jobId: string) => statuses.delete(jobId) };
}
