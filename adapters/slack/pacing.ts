import Bottleneck from 'bottleneck';

/**
 * Slack allows about one message per second per channel for chat.postMessage bursts
 * (https://docs.slack.dev/apis/web-api/rate-limits#special-rate-limits). Posts and edits go through a
 * per-channel Bottleneck queue; nothing is dropped (no highWater), and 429s are retried by the WebClient,
 * which honours Retry-After.
 */
export interface ChannelPacer {
  schedule<T>(channelId: string, task: () => Promise<T>): Promise<T>;
  /** Wait for queued posts, then stop accepting more. */
  stop(): Promise<void>;
}

export function createChannelPacer(options: { minTimeMs: number }): ChannelPacer {
  const group = new Bottleneck.Group({ maxConcurrent: 1, minTime: options.minTimeMs });
  let stopped = false;
  return {
    schedule(channelId, task) {
      if (stopped) return Promise.reject(new Error('slack pacer stopped'));
      return group.key(channelId).schedule(task);
    },
    async stop() {
      stopped = true;
      await Promise.all(group.limiters().map(({ limiter }) => limiter.stop({ dropWaitingJobs: false })));
      group.disconnect();
    },
  };
}
