import Bottleneck from 'bottleneck';

/**
 * Slack allows about one message per second per channel for chat.postMessage bursts
 * (https://docs.slack.dev/apis/web-api/rate-limits#special-rate-limits). Posts and edits go through a
 * per-channel Bottleneck queue; nothing is dropped (no highWater), and 429s are retried by the WebClient,
 * which honours Retry-After.
 */
export interface ChannelPacer {
  /** `urgent` work (a finished read, an error) goes ahead of queued status edits in its channel. */
  schedule<T>(channelId: string, task: () => Promise<T>, urgent?: boolean): Promise<T>;
  /** Wait for queued posts, then stop accepting more. */
  stop(): Promise<void>;
}

export function createChannelPacer(options: { minTimeMs: number }): ChannelPacer {
  const group = new Bottleneck.Group({ maxConcurrent: 1, minTime: options.minTimeMs });
  let stopped = false;
  return {
    schedule(channelId, task, urgent = false) {
      if (stopped) return Promise.reject(new Error('slack pacer stopped'));
      // Bottleneck runs lower priority numbers first (0–9, default 5).
      return group.key(channelId).schedule({ priority: urgent ? 1 : 5 }, task);
    },
    async stop() {
      stopped = true;
      await Promise.all(group.limiters().map(({ limiter }) => limiter.stop({ dropWaitingJobs: false })));
      group.disconnect();
    },
  };
}
