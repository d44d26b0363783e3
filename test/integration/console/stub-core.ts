import type {
  BotCore,
  ChatAdapter,
  CoreCommand,
  HandleOutcome,
  QueueSnapshot,
} from '../../../src/core/adapter.ts';
import { DISCLAIMER, notes, type ReadCard } from '../../../src/core/reply.ts';
import type { InboundRequest } from '../../../src/core/types.ts';

/**
 * A scripted BotCore test double for adapter-level tests: it records what the adapter hands it and
 * drives the adapter's outbound side the way the real core does (status → read card → preview). The
 * end-to-end browser test uses the real core instead.
 */
export function createStubCore(adapter: ChatAdapter) {
  const requests: InboundRequest[] = [];
  const downloads: Buffer[] = [];
  const acks: string[] = [];
  const votes: string[] = [];
  const commands: CoreCommand[] = [];
  const snapshot: QueueSnapshot = {
    queued: 0,
    running: 0,
    engineUp: true,
    etaSec: 0,
    model: 'Qwen/Qwen3-VL-8B-Instruct',
    promptVersion: 'radiologist@1',
  };
  let n = 0;
  const card = (jobId: string, isFollowUp: boolean): ReadCard => ({
    jobId,
    urgency: isFollowUp ? 'routine' : 'urgent',
    impression: isFollowUp
      ? 'No left-sided abnormality.'
      : 'Right upper lobe nodule, 12 mm; no pneumothorax.',
    findings: [
      {
        label: 'pulmonary nodule',
        location: 'right upper lobe',
        sizeMm: 12,
        laterality: 'right',
        severity: 'moderate',
        confidencePct: 87,
        confidenceSource: 'probe-logprob',
        calibrated: true,
        grounded: true,
      },
      {
        label: 'small pleural effusion',
        location: 'right costophrenic angle',
        confidencePct: 34,
        confidenceSource: 'token-logprob',
        calibrated: false,
        grounded: false,
      },
    ],
    recommendations: ['Compare with prior imaging.', 'CT chest follow-up in 3 months (Fleischner).'],
    model: snapshot.model,
    promptVersion: snapshot.promptVersion,
    image: { width: 1024, height: 1024, tokens: 1024 },
    downscaled: false,
    burnedInTextRedacted: false,
    isFollowUp,
    disclaimer: DISCLAIMER,
  });

  const core: BotCore = {
    async handle(request): Promise<HandleOutcome> {
      requests.push(request);
      const jobId = `job-${++n}`;
      const isFollowUp = request.attachments.length === 0;
      if (isFollowUp && request.thread.threadId === request.eventId)
        return { kind: 'ignored', reason: 'no-image', reply: notes.attachAnImage('console') };
      if (request.question.includes('refuse me'))
        return {
          kind: 'refused',
          code: 'RATE_LIMITED',
          reply: { kind: 'error', code: 'RATE_LIMITED', text: 'Slow down.' },
        };
      void (async () => {
        const posted = await adapter.post(request.thread, {
          kind: 'status',
          jobId,
          state: 'queued',
          position: 1,
          etaSec: 4,
        });
        if (!isFollowUp)
          downloads.push(await adapter.download(request.attachments[0]!, new AbortController().signal));
        await adapter.update(posted, { kind: 'status', jobId, state: 'reading' });
        await new Promise((resolve) => setTimeout(resolve, 50));
        await adapter.update(posted, { kind: 'read', card: card(jobId, isFollowUp) });
        if (!isFollowUp && downloads.at(-1)) {
          await adapter.uploadPreview?.(
            request.thread,
            downloads.at(-1)!,
            'De-identified preview — not for diagnostic use',
          );
        }
        await adapter.react?.(request.thread, request.eventId, 'done');
      })();
      return { kind: isFollowUp ? 'followup' : 'accepted', jobId, position: 1, etaSec: 4 };
    },
    async act(action) {
      if (action.kind === 'acknowledge') {
        acks.push(action.jobId);
        return { done: true, at: '2026-11-25T15:42:00.000Z' };
      }
      if (action.kind === 'cancel' || action.kind === 'not-critical') return { done: false };
      votes.push(`${action.jobId}:${action.kind}`);
      return { done: true, reply: notes.voteRecorded(action.kind) };
    },
    async react() {
      return undefined;
    },
    queueStatus: () => ({ ...snapshot }),
    command: (command) => {
      commands.push(command);
      return { kind: 'info', title: `Answer to ${command.kind}`, lines: [`for ${command.channelId}`] };
    },
  };
  return { core, requests, downloads, acks, votes, snapshot, commands };
}
