import type { BotCore, HandleOutcome, QueueSnapshot } from '../../../src/core/adapter.ts';
import type { OutboundMessage } from '../../../src/core/reply.ts';
import type { InboundRequest, Platform, ThreadRef } from '../../../src/core/types.ts';
import { AppError } from '../../../src/errors.ts';

/**
 * A BotCore test double that records what the adapter hands it. It dedupes by event id and message key
 * like the real core, so tests can tell the adapter's own dedupe from the core's.
 */
export interface CoreDouble extends BotCore {
  handled: Array<{ request: InboundRequest; at: number; resolvedAt?: number }>;
  acknowledged: Array<{ jobId: string; userId: string }>;
  feedbacks: Array<{ jobId: string; userId: string; vote: 'up' | 'down' }>;
  activeThreads: Set<string>;
  /** Jobs the store no longer keeps: acknowledge() answers undefined, feedback() throws. */
  goneJobs: Set<string>;
  /** Delay before handle() resolves (the time a persist would take). */
  handleDelayMs: number;
  /** Next outcome override (e.g. a refusal). */
  nextOutcome?: HandleOutcome;
  /** The next handle() fails, as when the store cannot write. */
  failNext?: boolean;
}

export function createCoreDouble(): CoreDouble {
  let jobs = 0;
  const keys = new Set<string>();
  const double: CoreDouble = {
    handled: [],
    acknowledged: [],
    feedbacks: [],
    activeThreads: new Set(),
    goneJobs: new Set(),
    handleDelayMs: 0,
    async handle(request) {
      const entry: CoreDouble['handled'][number] = { request, at: Date.now() };
      double.handled.push(entry);
      await new Promise((r) => setTimeout(r, double.handleDelayMs));
      entry.resolvedAt = Date.now();
      if (double.failNext) {
        double.failNext = false;
        throw new Error('store write failed');
      }
      if (double.nextOutcome) {
        const outcome = double.nextOutcome;
        double.nextOutcome = undefined;
        return outcome;
      }
      if (keys.has(request.eventId) || keys.has(request.messageKey)) return { kind: 'duplicate' };
      const followup = double.activeThreads.has(`${request.thread.channelId}:${request.thread.threadId}`);
      if (request.attachments.length === 0 && !followup) return { kind: 'ignored', reason: 'no-image' };
      keys.add(request.eventId);
      keys.add(request.messageKey);
      jobs += 1;
      return { kind: followup ? 'followup' : 'accepted', jobId: `job-${jobs}`, position: 1, etaSec: 5 };
    },
    async isActiveThread(_platform: Platform, thread: ThreadRef) {
      return double.activeThreads.has(`${thread.channelId}:${thread.threadId}`);
    },
    async acknowledge(jobId, userId) {
      if (double.goneJobs.has(jobId)) return undefined;
      double.acknowledged.push({ jobId, userId });
      return { at: '2026-11-25T12:00:00.000Z' };
    },
    async feedback(jobId, userId, vote) {
      if (double.goneJobs.has(jobId)) {
        throw new AppError('USAGE', 'unknown job', { userMessage: 'That read is no longer kept.' });
      }
      double.feedbacks.push({ jobId, userId, vote });
    },
    async cancel() {
      return false;
    },
    queueStatus(): QueueSnapshot {
      return {
        queued: 2,
        running: 1,
        engineUp: true,
        etaSec: 12,
        model: 'fake-vl',
        promptVersion: 'radiologist@1',
      };
    },
    helpText(): OutboundMessage {
      return {
        kind: 'info',
        title: 'quickread help',
        lines: ['Mention me with a scan attached.', 'Model: fake-vl'],
      };
    },
  };
  return double;
}
