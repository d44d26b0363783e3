import Bottleneck from 'bottleneck';
import { AppError } from '../errors.ts';

/**
 * Per-user admission (USER_RATE_PER_MIN) as a Bottleneck token bucket per user: a reservoir of N that
 * refills one token every 60/N s. `highWater: 0` + OVERFLOW makes Bottleneck refuse instead of queue,
 * so a burst gets a polite RATE_LIMITED answer at once rather than a silent wait.
 */
export function createUserAdmission(perMinute: number): {
  admit(userId: string): Promise<void>;
  stop(): Promise<void>;
} {
  const group = new Bottleneck.Group({
    reservoir: perMinute,
    reservoirIncreaseAmount: 1,
    reservoirIncreaseInterval: Math.ceil(60_000 / perMinute),
    reservoirIncreaseMaximum: perMinute,
    highWater: 0,
    strategy: Bottleneck.strategy.OVERFLOW,
    // Idle users' buckets are dropped after 10 min: by then they are full again anyway.
    timeout: 10 * 60_000,
  });
  return {
    async admit(userId) {
      try {
        await group.key(userId).schedule(() => Promise.resolve());
      } catch (error) {
        if (error instanceof Bottleneck.BottleneckError)
          throw admissionRefusal('RATE_LIMITED', 60 / perMinute);
        throw error;
      }
    },
    async stop() {
      await Promise.all(group.keys().map((key) => group.deleteKey(key)));
    },
  };
}

const inWords = (seconds: number): string =>
  seconds < 90 ? `${Math.max(1, Math.round(seconds))} s` : `${Math.round(seconds / 60)} min`;

export function admissionRefusal(code: 'QUEUE_FULL' | 'RATE_LIMITED', etaSec: number): AppError {
  if (code === 'QUEUE_FULL') {
    return new AppError('QUEUE_FULL', 'queue full', {
      retryAfterSec: etaSec,
      details: { etaSec },
      userMessage: `The reading queue is full; the work already waiting should clear in about ${inWords(etaSec)}. Please try again then.`,
    });
  }
  return new AppError('RATE_LIMITED', 'user rate limit', {
    retryAfterSec: Math.ceil(etaSec),
    details: { retryAfterSec: Math.ceil(etaSec) },
    userMessage: `You have sent several requests in the last minute; please wait about ${inWords(etaSec)} and try again.`,
  });
}
