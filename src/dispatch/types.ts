import type { EventEmitter } from 'node:events';
import type { Engine, InferenceInput, InferenceResult, Urgency } from '../core/types.ts';

/** What the requester hears while a job waits (the bot core turns these into status edits). */
export type DispatchUpdate =
  | { state: 'queued'; position: number; etaSec: number }
  /** Sent once per job per outage: "engine unavailable, you are #k". */
  | { state: 'waiting-engine'; position: number; etaSec: number }
  | { state: 'preparing' }
  | { state: 'reading' };

export interface DispatchRequest {
  id: string;
  userId: string;
  /** The fairness unit: usually `${platform}:${channelId}`. */
  channelId: string;
  /** > 0 is STAT. */
  priority: number;
  /**
   * The input, or a function that produces it (download + decode + load). Functions are called when
   * the job is a few places from the GPU, so preparation overlaps the engine's work on earlier jobs.
   */
  input: InferenceInput | (() => Promise<InferenceInput>);
  /** For resumed jobs: the original enqueue time (ms), which keeps their place and their age. */
  enqueuedAt?: number;
  onUpdate?: (update: DispatchUpdate) => void;
}

export interface DispatcherStats {
  /** Waiting for a GPU slot (in the fair queue, or prepared and next in line). */
  queued: number;
  /** Picked for the GPU and being downloaded / decoded now. */
  preparing: number;
  running: number;
  /** At least one endpoint is up. */
  engineUp: boolean;
  serviceMsEwma: number;
  /** Per model server, when the dispatcher routes to endpoints. */
  endpoints?: EndpointStats[];
}

export interface FinishedEvent {
  id: string;
  durationMs: number;
  waitMs: number;
  urgency?: Urgency;
  downscaled: boolean;
  errorCode?: string;
  /** The endpoint that ran the last attempt (absent when the job never reached one). */
  endpoint?: string;
}

export interface Dispatcher {
  /** Admission: QUEUE_FULL (with an ETA) or RATE_LIMITED for this user; resolves when accepted. */
  admit(userId: string): Promise<void>;
  schedule(request: DispatchRequest, signal?: AbortSignal): Promise<InferenceResult>;
  position(id: string): { position: number; etaSec: number } | undefined;
  /** Seconds until an answer for a job entering the queue now (or at `position`). */
  etaSec(position?: number): number;
  cancel(id: string): boolean;
  stats(): DispatcherStats;
  /**
   * 'finished' FinishedEvent, 'started' { id, waitMs, endpoint }, 'engine' { up: boolean } (any endpoint
   * up), 'endpoint' { endpoint, up }.
   */
  readonly events: EventEmitter;
  /**
   * The engine was found unreachable outside a read (e.g. by the start-up health check): hold work and
   * poll health, so /healthz, the metrics and the console banner say "down" before the first read fails.
   */
  engineUnavailable(): void;
  /** Stop feeding the engine; waiting and running jobs reject with a `stopped` INTERNAL error. */
  stop(): Promise<void>;
}

/** One model server the dispatcher routes to: its engine, its slots and its name for logs and metrics. */
export interface EndpointEngine {
  /** Scheme, host, port and path only: never credentials (see endpointLabel). */
  label: string;
  concurrency: number;
  engine: Engine;
}

export interface EndpointStats {
  label: string;
  up: boolean;
  running: number;
  concurrency: number;
  serviceMsEwma: number;
}
