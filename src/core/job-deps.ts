import type { Config } from '../config.ts';
import type { Dispatcher } from '../dispatch/types.ts';
import type { Logger } from '../log.ts';
import type { Store, StoredJob } from '../store/types.ts';
import type { ChatAdapter } from './adapter.ts';
import type { Platform, PreparedImage, StudyImage, Urgency } from './types.ts';

/** The image pipeline's entry point (src/ingest prepareImage), injected so the core stays testable. */
export type PrepareFn = (
  bytes: Uint8Array,
  options: {
    maxSide?: number | 'native';
    question?: string;
    maxBytes?: number;
    burnedInText?: 'redact' | 'flag' | 'refuse';
  },
) => Promise<PreparedImage>;

/** Every image of a message as one study (src/ingest/study prepareStudy), injected like PrepareFn. */
export type PrepareStudyFn = (
  files: Array<
    | { bytes: Uint8Array; role?: 'current' | 'prior' }
    | { prepared: PreparedImage; role?: 'current' | 'prior' }
  >,
  options: {
    question?: string;
    maxImages?: number;
    maxTokens?: number;
    maxSide?: number;
    maxBytes?: number;
    burnedInText?: 'redact' | 'flag' | 'refuse';
  },
) => Promise<{ images: StudyImage[]; notes: string[] }>;

/**
 * What the job runner works with. Plain dependencies: the adapters are looked up, never shared as a
 * mutable map, and the runner keeps its own per-job state.
 */
export interface JobDeps {
  config: Config;
  logger: Logger;
  store: Store;
  dispatcher: Dispatcher;
  prepare?: PrepareFn;
  prepareStudy?: PrepareStudyFn;
  clock: () => number;
  adapterFor(platform: Platform): ChatAdapter | undefined;
  statusEditIntervalMs: number;
  isStopping(): boolean;
  /** The engine answered a read with this prompt version (the model card shows the latest). */
  onRead(promptVersion: string): void;
  /** Fields stored with a read's answer in the same write (a critical read's escalation plan). */
  planFor?(job: StoredJob, urgency: Urgency): Partial<StoredJob>;
  /** The answer is shown and the job finished (the escalation's first page may go out). */
  onDelivered?(jobId: string): void;
}
