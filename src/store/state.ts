import type { Acknowledgement, FeedbackEntry, StoredImageInfo, StoredJob, StoredThread } from './types.ts';

/** The shape of DATA_DIR/state.json. Bump `version` and migrate when it changes. */
export interface StateData {
  version: 1;
  jobs: Record<string, StoredJob>;
  threads: Record<string, StoredThread>;
  /** `e:<platform>:<eventId>` and `m:<platform>:<messageKey>` → first job and when it was seen (ms). */
  events: Record<string, { jobId?: string; at: number }>;
  images: Record<string, StoredImageInfo>;
  acks: Record<string, Acknowledgement>;
  feedback: FeedbackEntry[];
}

export const emptyState = (): StateData => ({
  version: 1,
  jobs: {},
  threads: {},
  events: {},
  images: {},
  acks: {},
  feedback: [],
});

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A parsed file must look like our state, or it is treated as damaged (and the backup is tried). */
export function isStateData(value: unknown): value is StateData {
  return (
    isRecord(value) &&
    value.version === 1 &&
    isRecord(value.jobs) &&
    isRecord(value.threads) &&
    isRecord(value.events) &&
    isRecord(value.images) &&
    isRecord(value.acks) &&
    Array.isArray(value.feedback)
  );
}
