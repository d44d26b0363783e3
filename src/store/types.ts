import type {
  AttachmentRef,
  DeidReport,
  ImageSourceInfo,
  Job,
  JobStatus,
  Platform,
  PreparedImage,
  ReadCard,
  SafeImageMeta,
  ThreadRef,
  Turn,
  Urgency,
  WindowInfo,
} from '../core/types.ts';
import type { StoreHealth } from './faults.ts';

export type { StoreHealth } from './faults.ts';

/**
 * The state the bot keeps between restarts (DESIGN §1, §8). `Store` is an interface so a Redis-backed
 * implementation (src/store/redis) can stand in for the file one (snapshot + journal); nothing outside
 * src/store may assume the data lives in one JSON file.
 */

/** What the requester asked: thread body, deleted by retention together with the thread. */
export interface StoredRequest {
  question: string;
  attachments: AttachmentRef[];
  receivedAt: string;
  /** Opaque adapter data (e.g. a Discord interaction token). Never logged. */
  platformData?: Record<string, unknown>;
}

/** A study read (issue 17): its images in order, by stored ref, with their labels, and what it said was left out. */
export interface StoredStudy {
  images: Array<{ ref: string; label: string; role?: 'current' | 'prior' }>;
  notes: string[];
}

export interface StoredJob extends Job {
  /** threadKeyOf(platform, thread): the conversation this job belongs to. */
  threadKey: string;
  request?: StoredRequest;
  isFollowUp: boolean;
  /** Id of the user's own message, for reactions. */
  userMessageId: string;
  /** The status message posted at enqueue and edited in place into the answer. */
  statusMessageId?: string;
  /** Set once the answer exists; on resume it is posted without asking the engine again. */
  answer?: { kind: 'read'; card: ReadCard } | { kind: 'error'; code: string; text: string };
  /** The preview upload was tried (never retried on resume: a missing preview beats a duplicate). */
  previewAttempted?: boolean;
  urgency?: Urgency;
  model?: string;
  promptVersion?: string;
  imageSha256?: string;
  /** Several images read together; `imageRef` is the first. */
  study?: StoredStudy;
  /** A critical read's paging chain (issue 19), stored with the job so it resumes after a restart. */
  escalation?: EscalationRecord;
}

/**
 * Where a critical read's escalation stands. `step` is the last step begun (recorded before any of its
 * messages is sent); each message is claimed before it is sent and marked sent after, by its key.
 */
export interface EscalationRecord {
  /** Who is paged, as configured when the read came back (a rota change does not rewrite it). */
  rota: { onCall: PageTargetRecord[]; backup: PageTargetRecord[] };
  afterMs: number;
  urgency: Urgency;
  step: 0 | 1 | 2 | 3;
  /** When the last step began; the next is due `afterMs` later. */
  stepAt?: string;
  deliveries: Record<string, { state: 'claimed' | 'sent'; at: string }>;
  acknowledged?: { userId: string; at: string; notCritical: boolean };
  /** "Not critical" presses (also after an acknowledgement): kept for calibration. */
  falseAlarms?: Array<{ userId: string; at: string }>;
}

export interface PageTargetRecord {
  platform: 'slack' | 'discord' | 'console';
  kind: 'user' | 'group';
  id: string;
}

export interface StoredThread {
  key: string;
  platform: Platform;
  thread: ThreadRef;
  active: boolean;
  /** sha256 of the prepared image follow-ups reuse. */
  imageRef?: string;
  /** The whole study follow-ups reuse, when the read had several images. */
  study?: StoredStudy;
  turns: Turn[];
  lastActivityAt: string;
  platformData?: Record<string, unknown>;
  /** Jobs whose turns are already in `turns`: a resumed job never appends them twice. */
  answeredJobs?: string[];
}

export interface StoredImageInfo {
  sha256: string;
  width: number;
  height: number;
  tokens: number;
  meta: SafeImageMeta;
  deid: DeidReport;
  window: WindowInfo;
  source: ImageSourceInfo;
  savedAt: string;
  lastUsedAt: string;
}

export interface Acknowledgement {
  jobId: string;
  userId: string;
  at: string;
}

export interface FeedbackEntry {
  jobId: string;
  /** Hashed: feedback is for calibration, not for knowing who voted. */
  userHash: string;
  vote: 'up' | 'down';
  at: string;
  model?: string;
  promptVersion?: string;
}

/** One line of DATA_DIR/audit.jsonl. Hashes and codes only: never PHI or question text. */
export interface AuditEntry {
  event:
    | 'read'
    | 'failed'
    | 'acknowledged'
    | 'cancelled'
    | 'refused'
    /** Issue 19: step 1 (on-call), 2 (backup), 3 (channel) of a critical read's escalation. */
    | 'paged'
    | 'escalated'
    | 'channel-alerted'
    | 'not-critical';
  jobId?: string;
  userId: string;
  channelId: string;
  platform: Platform;
  imageSha256?: string;
  model?: string;
  promptVersion?: string;
  urgency?: Urgency;
  acknowledgedBy?: string;
  code?: string;
  /** Escalation step (1-3) of a page. */
  step?: number;
  /** Who was paged: platform ids, written to the log as keyed hashes. */
  paged?: string[];
  /** Seconds from the first page to this acknowledgement. */
  ackAfterSec?: number;
}

export interface EventKeys {
  platform: Platform;
  eventId: string;
  messageKey: string;
}

export type ClaimResult = { duplicate: false } | { duplicate: true; jobId?: string };

export interface SweepResult {
  images: number;
  threads: number;
  jobs: number;
  events: number;
  /** Damaged state files moved aside (`<file>.corrupt-<time>`) deleted once older than the retention. */
  corrupt: number;
}

export interface Store {
  readonly dataDir: string;
  /**
   * Atomically record an event id and a message key as seen. A second delivery of either (Slack retries,
   * app_mention + message for one chat message) comes back as a duplicate with the first job's id.
   * The claim is made durable by the next write (normally insertJob's).
   */
  claimEvent(keys: EventKeys, jobId?: string): Promise<ClaimResult>;
  /** Forget a claim whose job could not be stored, so the platform's redelivery is handled afresh. */
  releaseEvent(keys: EventKeys): Promise<void>;
  /**
   * Insert a job; resolves once it (and the event claims made before it) are durable on disk — the
   * adapter acks the platform after this. Rejects, leaving nothing behind, when the write fails.
   */
  insertJob(job: StoredJob): Promise<void>;
  getJob(id: string): Promise<StoredJob | undefined>;
  updateJob(id: string, patch: Partial<StoredJob>): Promise<StoredJob | undefined>;
  listJobs(statuses?: JobStatus[]): Promise<StoredJob[]>;
  getThread(key: string): Promise<StoredThread | undefined>;
  putThread(thread: StoredThread): Promise<void>;
  /**
   * Read-modify-write of one thread with no interleaving (a Redis store does it in a transaction):
   * `change` gets the current thread (or undefined) and returns the new one, or undefined to leave it.
   */
  updateThread(
    key: string,
    change: (thread: StoredThread | undefined) => StoredThread | undefined,
  ): Promise<void>;
  /** Store a prepared image (PNG under images/, facts in the state file); returns its reference. */
  saveImage(image: PreparedImage): Promise<string>;
  loadImage(ref: string): Promise<PreparedImage | undefined>;
  acknowledge(ack: Acknowledgement): Promise<void>;
  getAcknowledgement(jobId: string): Promise<Acknowledgement | undefined>;
  addFeedback(entry: FeedbackEntry): Promise<void>;
  listFeedback(): Promise<FeedbackEntry[]>;
  audit(entry: AuditEntry): Promise<void>;
  /** Whether changes can be stored now; when not, the code and reason (/healthz shows them). */
  health(): StoreHealth;
  /** A keyed hash of an identifier for logs and audit lines. */
  hashId(value: string): string;
  /** Delete prepared images, thread bodies and finished jobs older than the retention period. */
  sweep(retentionMs: number): Promise<SweepResult>;
  close(): Promise<void>;
}

export const threadKeyOf = (platform: Platform, thread: ThreadRef): string =>
  `${platform}:${thread.channelId}:${thread.threadId}`;
