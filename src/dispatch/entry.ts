import type { InferenceInput, InferenceResult } from '../core/types.ts';
import type { QueueItem } from './fair-queue.ts';
import type { DispatchRequest } from './types.ts';

/** One scheduled job inside the dispatcher. */
export interface Entry extends QueueItem {
  request: DispatchRequest;
  resolve: (result: InferenceResult) => void;
  reject: (error: unknown) => void;
  /** Set once prepared; kept across a re-queue so a retry does not prepare again. */
  input?: InferenceInput;
  /** Preparation started and not finished. */
  preparing: boolean;
  controller: AbortController;
  state: 'waiting' | 'running';
  attempts: number;
  firstQueuedAt: number;
  lastUpdate?: string;
  toldDown: boolean;
  /** The engine process died under this job once already (it gets one retry, smaller). */
  crashedOnce?: boolean;
  cancelled: boolean;
  settled: boolean;
}
