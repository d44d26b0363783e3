/**
 * Types shared by everything (DESIGN §3). Serialisable shapes only: they cross worker threads,
 * the store and process restarts.
 */

/**
 * Where a request came from. The known names are listed for completion; a chat adapter added later
 * brings its own name without touching the core (adapters/README.md).
 */
export type Platform = 'slack' | 'discord' | 'console' | 'api' | 'batch' | 'cli' | (string & {});

/** Where a conversation lives: the channel and the thread (root message) inside it. */
export interface ThreadRef {
  channelId: string;
  threadId: string;
}

/** A file attached to a chat message. `name` may hold PHI: never logged, never echoed. */
export interface AttachmentRef {
  platform: Platform;
  fileId: string;
  url: string;
  name: string;
  mimeType?: string;
  sizeBytes?: number;
  /** Slack marks files hosted elsewhere (Google Drive, Box…) as external; those are refused. */
  external?: boolean;
}

export interface InboundRequest {
  /** The platform's event id (Slack event_id, Discord message/interaction id, console uuid). */
  eventId: string;
  /**
   * The identity of the chat message itself (e.g. `slack:C1:1700000000.0001`): the same message
   * delivered as two events (app_mention + message) has two event ids but one message key.
   */
  messageKey: string;
  platform: Platform;
  thread: ThreadRef;
  userId: string;
  question: string;
  attachments: AttachmentRef[];
  /** ISO-8601 time the adapter received it. */
  receivedAt: string;
  /**
   * How the message reached the bot. `mention` (the default): addressed to it — a mention, a DM, /read,
   * a console post; without an image it is told how to attach one. `reply`: a plain message in a
   * thread, which counts only while the bot is reading that thread. `menu`: a message action ("Read
   * this scan") on a message; a second use is told the scan is already being read.
   */
  trigger?: 'mention' | 'reply' | 'menu';
  /** Opaque per-platform data the adapter needs later (e.g. Discord interaction token). Never logged. */
  platformData?: Record<string, unknown>;
}

/** The allow-listed facts that may leave ingest (DESIGN §3). Nothing else from a header ever does. */
export interface SafeImageMeta {
  modality?: string;
  bodyPart?: string;
  viewPosition?: string;
  laterality?: string;
  /** Row and column spacing in millimetres (PS3.3 C.7.6.2 Pixel Spacing, or Imager Pixel Spacing). */
  pixelSpacingMm?: [number, number];
  sliceThicknessMm?: number;
  /** Age as a decade band, e.g. "60-69". */
  ageBand?: string;
  sex?: 'M' | 'F' | 'O';
}

export interface BurnedInTextReport {
  regions: number;
  redacted: number;
  keptMarkers: number;
}

export interface DeidReport {
  /** How many header elements were dropped (everything not on the allow-list). */
  removedTags: number;
  /** The image may carry text in its pixels (BurnedInAnnotation=YES, US, secondary capture, raster). */
  burnedInAnnotation: boolean;
  /** The header still showed patient identity (name, ID, birth date…) before de-identification. */
  identityPresent: boolean;
  burnedInText?: BurnedInTextReport;
}

export type WindowSource = 'dataset' | 'voi-lut' | 'preset' | 'percentile' | 'user' | 'full-range' | 'none';

export interface WindowInfo {
  center: number;
  width: number;
  source: WindowSource;
  /** Preset name when source is 'preset' (lung, mediastinum, bone, brain, soft-tissue). */
  preset?: string;
  /** One line saying why this window was chosen. */
  reason: string;
}

/** What the model sees: an 8-bit PNG fitted to the token budget, plus allow-listed facts. */
export interface PreparedImage {
  png: Buffer;
  width: number;
  height: number;
  /** Visual tokens the model will spend: (width/32)·(height/32) for Qwen3-VL. */
  tokens: number;
  /** sha256 (hex) of `png`. */
  sha256: string;
  meta: SafeImageMeta;
  deid: DeidReport;
  window: WindowInfo;
  source: ImageSourceInfo;
}

/** One image of a study as the model sees it, with the line that tells the model which it is. */
export interface StudyImage extends PreparedImage {
  /** "Image 2 of 3: lateral view, CR": from allow-listed facts, the slice and the window only. */
  label: string;
  /** Set when the study compares with a prior image from the same thread. */
  role?: 'current' | 'prior';
}

export interface ImageSourceInfo {
  kind: 'dicom' | 'png' | 'jpeg' | 'webp' | 'tiff';
  rows: number;
  columns: number;
  frames: number;
  frameIndex: number;
  transferSyntax?: string;
  photometric?: string;
}

export type ConfidenceSource = 'probe-logprob' | 'token-logprob' | 'engine' | 'model-stated';

export interface Confidence {
  /** 0..1 */
  value: number;
  source: ConfidenceSource;
  calibrated: boolean;
  /** Labelled cases the applied calibration was fitted on (`quickread calibrate` / `eval --write-calibration`). */
  calibratedOn?: number;
  /** false when the blank-image probe says the finding is not supported by the image. */
  grounded?: boolean;
}

/** A read as every renderer draws it (built by src/core/card.ts, kept in the store as the answer). */
export interface ReadCardFinding {
  label: string;
  location?: string;
  sizeMm?: number;
  laterality?: string;
  severity?: Severity;
  /** 0..100, rounded */
  confidencePct: number;
  confidenceSource: ConfidenceSource;
  calibrated: boolean;
  /** Cases the calibration was fitted on, when calibrated. */
  calibratedOn?: number;
  /** false → show "not image-grounded" */
  grounded?: boolean;
  /** Shape, margins, density… in the model's words (untrusted text). */
  characteristics?: string;
}

export interface ReadCard {
  jobId: string;
  urgency: Urgency;
  impression: string;
  findings: ReadCardFinding[];
  /** Findings the model listed beyond the maximum and quickread left out (the least confident). */
  omittedFindings?: number;
  recommendations: string[];
  imageQuality?: string;
  model: string;
  promptVersion: string;
  image: { width: number; height: number; tokens: number };
  /** The display window the model saw, in words (src/core/wording.ts windowWords). */
  window?: string;
  downscaled: boolean;
  /** Text found in the pixels was blacked out before the model saw the image. */
  burnedInTextRedacted: boolean;
  isFollowUp: boolean;
  /** A study read: the label of every image the model saw, in order (issue 17). */
  images?: string[];
  /** What the study left out and why, and which slices were read: never silent. */
  studyNotes?: string[];
  acknowledgedBy?: { userId: string; at: string };
  disclaimer: string;
}

export type Severity = 'normal' | 'mild' | 'moderate' | 'severe' | 'critical';
export type Urgency = 'routine' | 'urgent' | 'critical';

export interface Finding {
  label: string;
  location?: string;
  sizeMm?: number;
  laterality?: 'left' | 'right' | 'bilateral' | 'midline' | 'none';
  severity?: Severity;
  /** Shape, margins, density… as the model described them (untrusted model text). */
  characteristics?: string;
  confidence: Confidence;
}

export interface InferenceResult {
  findings: Finding[];
  impression: string;
  urgency: Urgency;
  recommendations: string[];
  imageQuality?: string;
  engineId: string;
  model: string;
  /** e.g. "radiologist@3" */
  promptVersion: string;
  tokens: { prompt: number; completion: number; image: number };
  latencyMs: number;
  /** Set when the out-of-memory ladder had to shrink the image; the size actually sent. */
  downscaled?: { width: number; height: number; tokens: number };
  /** A study read: each image as the model saw it, in order (after any out-of-memory shrinking). */
  images?: StudyImageSummary[];
  /** Findings the model listed beyond the schema's maximum, left out (the least confident). */
  omittedFindings?: number;
}

/** What a result says about each image of a study (`ask --json`, the API, batch results). */
export interface StudyImageSummary {
  label: string;
  width: number;
  height: number;
  tokens: number;
  window: { center: number; width: number; source: WindowSource; preset?: string };
}

export interface Turn {
  role: 'user' | 'assistant';
  text: string;
}

export interface InferenceInput {
  image: PreparedImage;
  /**
   * Several images read together (views, key slices, windows, a prior), in order and labelled, within
   * one token budget (issue 17). When present, `image` is its first image.
   */
  study?: StudyImage[];
  question: string;
  /** Earlier turns of the thread, oldest first. */
  history: Turn[];
  /**
   * Re-fit the same decoded image to a smaller longest side (the out-of-memory ladder). Absent when
   * the caller cannot re-prepare; the engine then downsizes the PNG itself.
   */
  refit?: (maxSide: number) => Promise<PreparedImage>;
  temperature?: number;
}

export interface EngineHealth {
  ok: boolean;
  model?: string;
  /** Safe one-line explanation when not ok (never secrets). */
  detail?: string;
  /** The AppError code behind a failed check (e.g. ENGINE_UNAVAILABLE, ENGINE_MODEL_MISSING). */
  code?: string;
}

/** A yes/no probe request: "is <finding> present?" for each text, on the image and on a blank one. */
export interface ProbeInput {
  image: PreparedImage;
  /** Finding texts as asked, e.g. "pneumothorax". */
  findings: string[];
}

/** P(yes) on the image and on a blank image of the same size; undefined where the answer had no logprobs. */
export interface ProbeOutcome {
  real: number | undefined;
  blank: number | undefined;
}

export interface Engine {
  readonly id: string;
  readonly model: string;
  health(signal?: AbortSignal): Promise<EngineHealth>;
  infer(input: InferenceInput, signal: AbortSignal): Promise<InferenceResult>;
  /**
   * Optional: the confidence probe for findings the caller names (not those the read listed), one
   * outcome per finding in order. `quickread eval` uses it; engines without log-probabilities omit it.
   */
  probe?(input: ProbeInput, signal: AbortSignal): Promise<ProbeOutcome[]>;
  close?(): Promise<void>;
}

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface Job {
  id: string;
  eventId: string;
  messageKey: string;
  platform: Platform;
  thread: ThreadRef;
  userId: string;
  status: JobStatus;
  attempts: number;
  /** Higher runs first. */
  priority: number;
  /** Key of the prepared image in the store's image folder. */
  imageRef?: string;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  postedMessageId?: string;
  error?: { code: string; message: string };
}
