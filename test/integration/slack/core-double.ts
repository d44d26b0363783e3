import type { BotCore, CoreCommand, HandleOutcome, QueueSnapshot } from '../../../src/core/adapter.ts';
import { notes, type OutboundMessage, queueStatus, refusals } from '../../../src/core/reply.ts';
import type { InboundRequest } from '../../../src/core/types.ts';

/**
 * A BotCore test double that records what the adapter hands it. Like the real core it dedupes by event
 * id and message key, takes a thread reply only in an active thread, and hands back the replies.
 */
export interface CoreDouble extends BotCore {
  /** Every handle() call, duplicates and ignored copies included. */
  calls: number;
  /** The requests taken (accepted, follow-up or refused). */
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
  commands: CoreCommand[];
  /** Commands answer NOT_ALLOWED, as the core does outside ALLOWED_CHANNELS / ALLOWED_USERS. */
  notAllowed?: boolean;
}

export function createCoreDouble(): CoreDouble {
  let jobs = 0;
  const keys = new Set<string>();
  const hinted = new Set<string>();

  function decide(request: InboundRequest): HandleOutcome {
    const followup = double.activeThreads.has(`${request.thread.channelId}:${request.thread.threadId}`);
    if (request.trigger === 'reply' && !followup) return { kind: 'ignored', reason: 'not-for-bot' };
    if (keys.has(request.eventId) || keys.has(request.messageKey)) {
      return request.trigger === 'menu'
        ? { kind: 'duplicate', reply: notes.alreadyReading }
        : { kind: 'duplicate' };
    }
    if (request.attachments.length === 0 && !followup) {
      if (request.trigger === 'reply' || hinted.has(request.messageKey)) {
        return { kind: 'ignored', reason: 'no-image' };
      }
      hinted.add(request.messageKey);
      return { kind: 'ignored', reason: 'no-image', reply: notes.attachAnImage('slack') };
    }
    keys.add(request.eventId);
    keys.add(request.messageKey);
    jobs += 1;
    return { kind: followup ? 'followup' : 'accepted', jobId: `job-${jobs}`, position: 1, etaSec: 5 };
  }

  const double: CoreDouble = {
    calls: 0,
    commands: [],
    handled: [],
    acknowledged: [],
    feedbacks: [],
    activeThreads: new Set(),
    goneJobs: new Set(),
    handleDelayMs: 0,
    async handle(request) {
      const entry: CoreDouble['handled'][number] = { request, at: Date.now() };
      double.calls += 1;
      double.handled.push(entry);
      await new Promise((r) => setTimeout(r, double.handleDelayMs));
      entry.resolvedAt = Date.now();
      if (double.failNext) {
        double.failNext = false;
        double.handled.splice(double.handled.indexOf(entry), 1);
        throw new Error('store write failed');
      }
      if (double.nextOutcome) {
        const outcome = double.nextOutcome;
        double.nextOutcome = undefined;
        return outcome;
      }
      const outcome = decide(request);
      // Only a request the core takes (or refuses) counts as handled; dropped copies leave no trace.
      if (outcome.kind === 'duplicate' || outcome.kind === 'ignored') {
        double.handled.splice(double.handled.indexOf(entry), 1);
      }
      return outcome;
    },
    async act(action) {
      if (double.goneJobs.has(action.jobId)) {
        return {
          done: false,
          reply: action.kind === 'acknowledge' ? refusals.cannotAcknowledge : refusals.readGone,
        };
      }
      if (action.kind === 'acknowledge') {
        double.acknowledged.push({ jobId: action.jobId, userId: action.userId });
        return { done: true, at: '2026-11-25T12:00:00.000Z' };
      }
      if (action.kind === 'cancel' || action.kind === 'not-critical') return { done: false };
      double.feedbacks.push({ jobId: action.jobId, userId: action.userId, vote: action.kind });
      return { done: true, reply: notes.voteRecorded(action.kind) };
    },
    async react() {
      return undefined;
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
    command(command): OutboundMessage {
      double.commands.push(command);
      if (double.notAllowed) return { kind: 'error', code: 'NOT_ALLOWED', text: 'not enabled here' };
      if (command.kind === 'status') return queueStatus(double.queueStatus());
      return {
        kind: 'info',
        title: 'quickread help',
        lines: ['Mention me with a scan attached.', 'Model: fake-vl'],
      };
    },
  };
  return double;
}
