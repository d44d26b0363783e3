import type { BotCore, ChatAdapter, HandleOutcome } from '../../../src/core/adapter.ts';
import {
  DISCLAIMER,
  notes,
  type OutboundMessage,
  type PostedRef,
  type ReadCard,
  refusals,
} from '../../../src/core/reply.ts';
import type { InboundRequest } from '../../../src/core/types.ts';
import { isAppError } from '../../../src/errors.ts';

/**
 * A BotCore test double that runs the documented flow against a real adapter: dedupe by event id and
 * message key → react received → post status → download → update the status into the read card →
 * upload the preview → react done (or an error card and react failed). No engine: the card is given.
 */
export interface CoreDouble extends BotCore {
  requests: InboundRequest[];
  downloads: { jobId: string; bytes?: number; error?: string }[];
  acknowledgements: { jobId: string; userId: string }[];
  votes: { jobId: string; vote: 'up' | 'down' }[];
  done: Promise<void>[];
  refuseNext?: { code: string; text: string };
}

export function createCoreDouble(
  adapter: () => ChatAdapter,
  card: (jobId: string, followUp: boolean) => ReadCard,
  hooks: { beforeRun?: () => void | Promise<void> } = {},
): CoreDouble {
  const seen = new Set<string>();
  const activeThreads = new Set<string>();
  const jobs = new Map<string, InboundRequest>();
  const posted = new Map<string, { ref: PostedRef; card: ReadCard }>();
  let next = 0;
  const double: CoreDouble = {
    requests: [],
    downloads: [],
    acknowledgements: [],
    votes: [],
    done: [],
    async handle(request): Promise<HandleOutcome> {
      const key = `${request.thread.channelId}/${request.thread.threadId}`;
      if (request.trigger === 'reply' && !activeThreads.has(key))
        return { kind: 'ignored', reason: 'not-for-bot' };
      if (seen.has(request.eventId) || seen.has(request.messageKey)) return { kind: 'duplicate' };
      seen.add(request.eventId);
      seen.add(request.messageKey);
      double.requests.push(request);
      if (double.refuseNext) {
        const refusal = double.refuseNext;
        double.refuseNext = undefined;
        return { kind: 'refused', code: refusal.code, reply: { kind: 'error', ...refusal } };
      }
      const followUp = request.attachments.length === 0;
      if (followUp && !activeThreads.has(key)) {
        return request.trigger === 'reply'
          ? { kind: 'ignored', reason: 'no-image' }
          : { kind: 'ignored', reason: 'no-image', reply: notes.attachAnImage('discord') };
      }
      next += 1;
      const jobId = `job-${next}`;
      jobs.set(jobId, request);
      activeThreads.add(key);
      double.done.push(run(jobId, request, followUp));
      return { kind: followUp ? 'followup' : 'accepted', jobId, position: 1, etaSec: 5 };
    },
    async act(action) {
      if (action.kind === 'acknowledge') {
        const read = posted.get(action.jobId);
        if (!read) return { done: false, reply: refusals.cannotAcknowledge };
        double.acknowledgements.push({ jobId: action.jobId, userId: action.userId });
        const at = '2026-11-25T12:00:00.000Z';
        // Like the real core: the card is re-rendered in place with who acknowledged.
        await adapter().update(read.ref, {
          kind: 'read',
          card: { ...read.card, acknowledgedBy: { userId: action.userId, at } },
        });
        return { done: true, at };
      }
      if (action.kind === 'cancel' || action.kind === 'not-critical') return { done: false };
      if (!jobs.has(action.jobId)) return { done: false, reply: refusals.readGone };
      double.votes.push({ jobId: action.jobId, vote: action.kind });
      return { done: true, reply: notes.voteRecorded(action.kind) };
    },
    async react() {
      return undefined;
    },
    queueStatus() {
      return { queued: 0, running: 0, engineUp: true, etaSec: 0, model: 'm', promptVersion: 'p@1' };
    },
    command(): OutboundMessage {
      return {
        kind: 'info',
        title: 'quickread help',
        lines: ['Discord has no business associate agreement: de-identified or teaching images only.'],
      };
    },
  };

  async function run(jobId: string, request: InboundRequest, followUp: boolean): Promise<void> {
    await hooks.beforeRun?.();
    const chat = adapter();
    const messageId = String(request.platformData?.messageId ?? request.eventId);
    await chat.react?.(request.thread, messageId, 'received');
    const status = await chat.post(request.thread, {
      kind: 'status',
      jobId,
      state: 'queued',
      position: 1,
      etaSec: 5,
    });
    try {
      if (!followUp) {
        const bytes = await chat.download(request.attachments[0]!, AbortSignal.timeout(5000));
        double.downloads.push({ jobId, bytes: bytes.length });
      }
      await chat.update(status, { kind: 'status', jobId, state: 'reading' });
      const read = card(jobId, followUp);
      await chat.update(status, { kind: 'read', card: read });
      posted.set(jobId, { ref: status, card: read });
      await chat.uploadPreview?.(
        request.thread,
        Buffer.from('89504e470d0a1a0a', 'hex'),
        'De-identified preview — not for diagnostic use',
      );
      await chat.react?.(request.thread, messageId, 'done');
    } catch (error) {
      double.downloads.push({ jobId, error: isAppError(error) ? error.code : String(error) });
      const text = isAppError(error) ? error.userMessage : 'failed';
      await chat.update(status, {
        kind: 'error',
        jobId,
        code: isAppError(error) ? error.code : 'INTERNAL',
        text,
      });
      await chat.react?.(request.thread, messageId, 'failed');
    }
  }

  return double;
}

export function sampleCard(jobId: string, isFollowUp: boolean): ReadCard {
  return {
    jobId,
    urgency: 'urgent',
    impression: 'Nodule in the right upper lobe. @everyone look <@123456789012345678> https://evil.example/x',
    findings: [
      {
        label: 'Pulmonary nodule @everyone',
        location: 'right upper lobe',
        sizeMm: 8,
        laterality: 'right',
        severity: 'moderate',
        confidencePct: 87,
        confidenceSource: 'probe-logprob',
        calibrated: false,
        grounded: false,
      },
    ],
    recommendations: ['CT follow-up in 3 months @here'],
    model: 'Qwen/Qwen3-VL-8B-Instruct',
    promptVersion: 'radiologist@1',
    image: { width: 512, height: 512, tokens: 256 },
    downscaled: false,
    burnedInTextRedacted: false,
    isFollowUp,
    disclaimer: DISCLAIMER,
  };
}
