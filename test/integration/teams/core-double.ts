import type { BotCore, HandleOutcome } from '../../../src/core/adapter.ts';
import { notes } from '../../../src/core/reply.ts';
import { AppError } from '../../../src/errors.ts';

/**
 * A BotCore double for the Teams bot process (CORE=double): it records every call as a `CORE <json>`
 * line on stdout for the test to read, accepts messages with an attachment, and throws once for a
 * question containing "fail-once" (as a store that cannot write would), so the test can see the
 * adapter withhold its 200.
 */
export function createPrintingCore(print: (line: string) => void): BotCore {
  const failed = new Set<string>();
  const record = (call: string, payload: unknown) => print(`CORE ${JSON.stringify({ call, payload })}`);
  return {
    async handle(request): Promise<HandleOutcome> {
      record('handle', request);
      if (request.question.includes('fail-once') && !failed.has(request.eventId)) {
        failed.add(request.eventId);
        throw new AppError('INTERNAL', 'store unavailable', { retryable: true });
      }
      if (request.attachments.length === 0)
        return { kind: 'ignored', reason: 'no-image', reply: notes.attachAnImage('teams') };
      return { kind: 'accepted', jobId: `job-${request.eventId}`, position: 1, etaSec: 5 };
    },
    async act(action) {
      record('act', action);
      return action.kind === 'up' || action.kind === 'down'
        ? { done: true, reply: notes.voteRecorded(action.kind) }
        : { done: true, at: '2026-01-01T00:00:00.000Z' };
    },
    async react() {
      return undefined;
    },
    command(command) {
      record('command', command);
      return { kind: 'info', title: 'help from the double', lines: ['line'] };
    },
    queueStatus() {
      return { queued: 0, running: 0, engineUp: true, etaSec: 0, model: 'm', promptVersion: 'p@1' };
    },
  };
}
